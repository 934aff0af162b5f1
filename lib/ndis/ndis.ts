/**
 * The NDIS core: the Ndis* functions of spec §1.2, routing each request to the right peer,
 * keeping the two state axes of every VC (spec §2) and its drain counter (§2.4), enforcing the
 * refusals of §2.3 and the send policy of §4.3 before any driver handler is called.
 *
 * Request/completion discipline (spec §1.2 conventions, §8):
 * - a request that can pend returns a final status or NDIS_STATUS_PENDING. On a final status the
 *   caller runs its own completion logic and NDIS never calls its completion handler; on PENDING,
 *   NDIS calls the completion handler exactly once, later;
 * - every completion NDIS delivers to a driver runs from a task of the injected Scheduler, in
 *   FIFO order, never inside the call that caused it;
 * - completions a driver reports (NdisMCoActivateVcComplete...) go through the VC's mailbox, so a
 *   completion reported from inside the handler that is about to return PENDING is processed once
 *   the PENDING is recorded.
 * Each `xxxAsync` convenience returns a Promise that settles with the final status either way.
 */
import {
  type AddressFamily,
  type CallManagerHandlers,
  type ClientHandlers,
  type ContextResult,
  type MiniportCoHandlers,
  NdisAfHandle,
  NdisBindingHandle,
  NdisMiniportHandle,
  NdisProtocolHandle,
  NdisSapHandle,
  type NdisVcHandle,
  type ProtocolCoHandlers,
} from './actors';
import type { CoCallParameters } from './call-parameters';
import { type Clock, systemClock, type TimerId } from './clock';
import { Drain } from './drain';
import { CondisError, CondisErrorCode, ruleCode, type VcSnapshot } from './errors';
import { Mailbox } from './mailbox';
import { NblOwner, NDIS_RECEIVE_FLAGS_RESOURCES, type NetBufferList } from './nbl';
import { microtaskScheduler, type Scheduler } from './scheduler';
import {
  NDIS_STATUS_CLOSING,
  NDIS_STATUS_FAILURE,
  NDIS_STATUS_INVALID_PARAMETER,
  NDIS_STATUS_NOT_ACCEPTED,
  NDIS_STATUS_NOT_SUPPORTED,
  NDIS_STATUS_PENDING,
  NDIS_STATUS_REQUEST_ABORTED,
  NDIS_STATUS_RESET_END,
  NDIS_STATUS_RESET_START,
  NDIS_STATUS_SUCCESS,
  NDIS_STATUS_VC_NOT_ACTIVATED,
  type NdisStatus,
} from './status';
import { type Party, Trace } from './trace';
import {
  type ActivationEvent,
  type ActivationState,
  activationTransition,
  type CallEvent,
  type CallState,
  callTransition,
  type SendPolicy,
  sendVerdict,
} from './vc-states';
import { Verifier, type VerifierMode } from './verifier';

/** A watch-only hook on the data path (what an NDIS lightweight filter that only monitors sees). */
export interface NdisDataPathObserver {
  /** Each chain a protocol passes to NdisCoSendNetBufferLists, before the runtime checks it. */
  onSend?(vcHandle: NdisVcHandle, nbls: NetBufferList): void;
  /** Each chain a miniport passes to NdisMCoIndicateReceiveNetBufferLists, before delivery. */
  onIndicate?(vcHandle: NdisVcHandle, nbls: NetBufferList): void;
}

export interface NdisOptions {
  /** Time source for trace stamps and the deactivation deadline (default: systemClock). */
  clock?: Clock;
  /** Where completions run (default: one microtask per batch). */
  scheduler?: Scheduler;
  /** Verifier mode (default 'throw'). */
  verifier?: VerifierMode;
  /** Called with every contract break the verifier records. */
  onViolation?: (e: CondisError) => void;
  /**
   * Spec §4.3 (default 'strict-core'): NDIS refuses sends on a VC that is not ready, before the
   * miniport sees them. 'pass-through' forwards every send (except during a reset); the miniport
   * must then apply the §4.3 table itself.
   */
  sendPolicy?: SendPolicy;
  /**
   * Milliseconds a pended deactivation may wait for the drain before NDIS calls the miniport's
   * `coAbortVc` hook and fails it with NDIS_STATUS_REQUEST_ABORTED (code ERR_CONDIS_DRAIN_TIMEOUT).
   * Off (undefined or 0) by default: a drain waits as long as the miniport takes.
   */
  deactivationDeadlineMs?: number;
  /** Record a trace (default true), or its capacity in events. */
  trace?: boolean | number;
  /** Watches every send and receive indication (a pcap capture, say); called once per call. */
  observer?: NdisDataPathObserver;
}

type Role = 'client' | 'cm' | 'miniport';
const ROLE_CODE: Record<Role, number> = { miniport: 0, client: 1, cm: 2 };
const ROLES: readonly Role[] = ['miniport', 'client', 'cm'];
const SLOTS = 1 << 20;

class MiniportRec {
  readonly bindings: BindingRec[] = [];
  readonly afs: AfRegistration[] = [];
  resetting = false;
  constructor(
    readonly handle: NdisMiniportHandle,
    readonly handlers: MiniportCoHandlers,
    readonly adapterContext: unknown,
    readonly isMcm: boolean,
  ) {}
}

class ProtocolRec {
  constructor(
    readonly handle: NdisProtocolHandle,
    readonly handlers: ProtocolCoHandlers,
  ) {}
}

class BindingRec {
  readonly cmAfs: AfRegistration[] = [];
  constructor(
    readonly handle: NdisBindingHandle,
    readonly protocol: ProtocolRec,
    readonly miniport: MiniportRec,
    readonly bindingContext: unknown,
  ) {}
}

/** A call manager's (or MCM's) registration of one address family. */
class AfRegistration {
  constructor(
    readonly af: AddressFamily,
    readonly handlers: CallManagerHandlers,
    readonly miniport: MiniportRec,
    /** The CM's binding; undefined for an MCM. */
    readonly binding: BindingRec | undefined,
    readonly cmBindingContext: unknown,
  ) {}
  get party(): Party {
    return this.binding ? 'CallManager' : 'MCM';
  }
}

type AfState = 'opening' | 'open' | 'closing' | 'closed';

/** One client's open address family. */
class AfRec {
  state: AfState = 'opening';
  cmAfContext: unknown;
  readonly saps = new Set<SapRec>();
  resolve: ((s: NdisStatus) => void) | undefined;
  constructor(
    readonly handle: NdisAfHandle,
    readonly reg: AfRegistration,
    readonly clientBinding: BindingRec,
    readonly clientHandlers: ClientHandlers,
    readonly clientAfContext: unknown,
  ) {}
}

class SapRec {
  state: 'registering' | 'open' | 'closing' | 'closed' = 'registering';
  cmSapContext: unknown;
  constructor(
    readonly handle: NdisSapHandle,
    readonly af: AfRec,
    readonly sap: unknown,
    readonly clientSapContext: unknown,
  ) {}
}

interface Req {
  pended: boolean;
  resolve: ((s: NdisStatus) => void) | undefined;
}
interface ActReq extends Req {
  params: CoCallParameters;
}
interface DeactReq extends Req {
  /** The miniport (or MCM) reported completion; NDIS still waits for the drain counter. */
  miniportDone: boolean;
  timer: TimerId | undefined;
}
interface MakeReq extends Req {
  params: CoCallParameters;
}
interface CloseReq extends Req {
  partyContext: unknown;
}
interface QosReq extends Req {
  params: CoCallParameters;
  activationsAtStart: number;
}
interface OfferReq extends Req {
  params: CoCallParameters;
}

class VcRec {
  a: ActivationState = 'INACTIVE';
  c: CallState = 'IDLE';
  readonly mailbox = new Mailbox();
  readonly drain: Drain;
  readonly ctx: Record<Role, unknown> = { client: undefined, cm: undefined, miniport: undefined };
  /** Parameters in force (undefined when inactive). */
  params: CoCallParameters | undefined;
  /** The set voided by the last deactivation (E50: not to be reused). */
  voidedParams: CoCallParameters | undefined;
  /** Parameters of the last activation the miniport accepted, and how many it accepted. */
  lastActivated: CoCallParameters | undefined;
  activationsOk = 0;
  act: ActReq | undefined;
  deact: DeactReq | undefined;
  make: MakeReq | undefined;
  close: CloseReq | undefined;
  qos: QosReq | undefined;
  offer: OfferReq | undefined;
  /** E34 (report mode): a close completion held until the deactivation completes. */
  heldClose: { status: NdisStatus; req: CloseReq } | undefined;
  /** E36: a client-created VC closed with a failure CloseStatus must be deleted, not reused. */
  mustDelete = false;
  /** E37: the client's close of a CM-created VC completed; its handle is dead for the client. */
  clientDetached = false;
  /** Scratch mark for returnNetBufferLists (no allocation per return). */
  touched = false;
  /** Deliveries (completions, returns) queued for this VC and not yet run. */
  queued = 0;

  constructor(
    readonly slot: number,
    public gen: number,
    readonly creator: 'client' | 'cm',
    readonly mcm: boolean,
    readonly miniport: MiniportRec,
    readonly reg: AfRegistration,
    readonly af: AfRec | undefined,
    onDrained: () => void,
  ) {
    this.drain = new Drain(onDrained);
  }
  get signalling(): boolean {
    return this.af === undefined;
  }
  /** Who sends and receives data on the VC: the client, or the CM on its signalling VC. */
  get dataRole(): Role {
    return this.af ? 'client' : 'cm';
  }
  get dataBinding(): BindingRec {
    return this.af ? this.af.clientBinding : this.reg.binding!;
  }
}

/** What `vcInfo` reports about a VC. */
export interface VcInfo {
  readonly slot: number;
  readonly activation: ActivationState;
  readonly call: CallState;
  readonly txInMiniport: number;
  readonly rxHeld: number;
  readonly stopping: boolean;
  readonly creator: 'client' | 'cm';
  readonly mcm: boolean;
  readonly signalling: boolean;
  readonly callParameters: CoCallParameters | undefined;
  readonly activationPending: boolean;
  readonly deactivationPending: boolean;
}

/** Queue entry kinds (flat array: kind, target, a, b). */
const Q_FN = 0;
const Q_SEND_COMPLETE = 1;
const Q_RETURN_TO_MINIPORT = 2;

export class Ndis {
  readonly clock: Clock;
  readonly scheduler: Scheduler;
  readonly verifier: Verifier;
  readonly trace: Trace | undefined;
  sendPolicy: SendPolicy;
  deactivationDeadlineMs: number | undefined;

  private readonly miniports = new Map<NdisMiniportHandle, MiniportRec>();
  private readonly protocols = new Map<NdisProtocolHandle, ProtocolRec>();
  private readonly bindings = new Map<NdisBindingHandle, BindingRec>();
  private readonly afs = new Map<NdisAfHandle, AfRec>();
  private readonly saps = new Map<NdisSapHandle, SapRec>();
  private readonly vcs: Array<VcRec | undefined> = [undefined];
  private readonly gens: number[] = [0];
  private readonly freeSlots: number[] = [];
  private nextId = 1;
  private liveVcs = 0;

  /** Deliveries to drivers, FIFO, flat: [kind, target, a, b]*. */
  private readonly queue: unknown[] = [];
  private queueHead = 0;
  private flushScheduled = false;
  private readonly flushBound = () => this.flush();
  /** VCs touched by the return being processed (reused array). */
  private readonly touched: VcRec[] = [];
  /** A fatal break found mid-request (E7), thrown once the request has cleaned up. */
  private fatal: CondisError | undefined;
  /** Resolver of the next request made by an xxxAsync wrapper. */
  private armed: ((s: NdisStatus) => void) | undefined;
  /** NdisOptions.observer: one field read per send / indication when none is set. */
  private readonly observer: NdisDataPathObserver | undefined;

  constructor(opts: NdisOptions = {}) {
    this.clock = opts.clock ?? systemClock;
    this.scheduler = opts.scheduler ?? microtaskScheduler;
    this.verifier = new Verifier(opts.verifier ?? 'throw', opts.onViolation);
    this.sendPolicy = opts.sendPolicy ?? 'strict-core';
    this.deactivationDeadlineMs = opts.deactivationDeadlineMs;
    this.observer = opts.observer;
    const t = opts.trace ?? true;
    this.trace = t === false ? undefined : new Trace(this.clock, typeof t === 'number' ? t : undefined);
  }

  // ---------------------------------------------------------------------------------------------
  // Registration and bindings

  /** NdisMRegisterMiniportDriver + NdisMSetMiniportAttributes (CoNDIS): a connection-oriented miniport. */
  registerMiniport(name: string, handlers: MiniportCoHandlers, adapterContext?: unknown): NdisMiniportHandle {
    const h = new NdisMiniportHandle(name);
    this.miniports.set(h, new MiniportRec(h, handlers, adapterContext, false));
    return h;
  }

  /**
   * NdisMRegisterMiniportDriver for an MCM: a miniport with an integrated call manager. Its
   * coCreateVc/coDeleteVc are ignored (NDIS calls the call-manager ones); register its address
   * families with `mCmRegisterAddressFamily`.
   */
  registerMcm(name: string, handlers: MiniportCoHandlers, adapterContext?: unknown): NdisMiniportHandle {
    const h = new NdisMiniportHandle(name);
    this.miniports.set(h, new MiniportRec(h, handlers, adapterContext, true));
    return h;
  }

  /** NdisMDeregisterMiniportDriver / halt: asserts no VC is left (spec §5 U10). */
  deregisterMiniport(miniport: NdisMiniportHandle): NdisStatus {
    const mp = this.need(this.miniports.get(miniport), 'NdisMDeregisterMiniportDriver');
    const left = this.vcs.filter((v) => v && v.miniport === mp).length;
    if (left > 0) {
      this.verifier.flag(
        CondisErrorCode.VCS_PRESENT,
        `miniport ${miniport.name} halted with ${left} VC(s) present`,
      );
      return NDIS_STATUS_NOT_ACCEPTED;
    }
    this.miniports.delete(miniport);
    return NDIS_STATUS_SUCCESS;
  }

  /** NdisRegisterProtocolDriver with NDIS_PROTOCOL_CO_CHARACTERISTICS: a client or a call manager. */
  registerProtocol(name: string, handlers: ProtocolCoHandlers): NdisProtocolHandle {
    const h = new NdisProtocolHandle(name);
    this.protocols.set(h, new ProtocolRec(h, handlers));
    return h;
  }

  /** NdisOpenAdapterEx: bind a protocol to a miniport (synchronous here). */
  openAdapter(
    protocol: NdisProtocolHandle,
    miniport: NdisMiniportHandle,
    protocolBindingContext?: unknown,
  ): NdisBindingHandle {
    const p = this.need(this.protocols.get(protocol), 'NdisOpenAdapterEx');
    const mp = this.need(this.miniports.get(miniport), 'NdisOpenAdapterEx');
    const h = new NdisBindingHandle(`${protocol.name}->${miniport.name}`);
    const b = new BindingRec(h, p, mp, protocolBindingContext);
    this.bindings.set(h, b);
    mp.bindings.push(b);
    return h;
  }

  /** NdisCloseAdapterEx: asserts the binding has no AF open and no VC left (spec §5 U10). */
  closeAdapter(binding: NdisBindingHandle): NdisStatus {
    const b = this.need(this.bindings.get(binding), 'NdisCloseAdapterEx');
    const busy =
      [...this.afs.values()].some(
        (af) => af.state !== 'closed' && (af.clientBinding === b || af.reg.binding === b),
      ) || this.vcs.some((v) => v && (v.dataBinding === b || v.reg.binding === b));
    if (busy) {
      this.verifier.flag(
        CondisErrorCode.VCS_PRESENT,
        `binding ${binding.name} closed with AFs or VCs present`,
      );
      return NDIS_STATUS_NOT_ACCEPTED;
    }
    this.bindings.delete(binding);
    b.miniport.bindings.splice(b.miniport.bindings.indexOf(b), 1);
    return NDIS_STATUS_SUCCESS;
  }

  /** NdisCmRegisterAddressFamilyEx: a stand-alone call manager offers an address family on its binding. */
  cmRegisterAddressFamily(
    binding: NdisBindingHandle,
    af: AddressFamily,
    handlers: CallManagerHandlers,
    callMgrBindingContext?: unknown,
  ): NdisStatus {
    const b = this.need(this.bindings.get(binding), 'NdisCmRegisterAddressFamilyEx');
    if (b.miniport.afs.some((r) => r.af === af)) return NDIS_STATUS_FAILURE;
    const reg = new AfRegistration(af, handlers, b.miniport, b, callMgrBindingContext);
    b.miniport.afs.push(reg);
    b.cmAfs.push(reg);
    this.tr('call', 'CallManager', 'NDIS', 'NdisCmRegisterAddressFamilyEx');
    return NDIS_STATUS_SUCCESS;
  }

  /** NdisMCmRegisterAddressFamilyEx: an MCM registers as the call manager of its own miniport. */
  mCmRegisterAddressFamily(
    miniport: NdisMiniportHandle,
    af: AddressFamily,
    handlers: CallManagerHandlers,
  ): NdisStatus {
    const mp = this.need(this.miniports.get(miniport), 'NdisMCmRegisterAddressFamilyEx');
    if (!mp.isMcm) {
      this.verifier.flag(CondisErrorCode.WRONG_VARIANT, `${miniport.name} is not an MCM`);
      return NDIS_STATUS_FAILURE;
    }
    if (mp.afs.some((r) => r.af === af)) return NDIS_STATUS_FAILURE;
    mp.afs.push(new AfRegistration(af, handlers, mp, undefined, undefined));
    this.tr('call', 'MCM', 'NDIS', 'NdisMCmRegisterAddressFamilyEx');
    return NDIS_STATUS_SUCCESS;
  }

  /**
   * NdisClOpenAddressFamilyEx: a client opens an address family offered on the miniport it is
   * bound to. NDIS calls the CM's ProtocolCmOpenAf; PENDING ends in ProtocolClOpenAfCompleteEx.
   */
  clOpenAddressFamily(
    binding: NdisBindingHandle,
    af: AddressFamily,
    handlers: ClientHandlers,
    protocolAfContext?: unknown,
  ): { status: NdisStatus; afHandle: NdisAfHandle | undefined } {
    const resolve = this.takeArmed();
    const b = this.need(this.bindings.get(binding), 'NdisClOpenAddressFamilyEx');
    this.tr('call', 'Client', 'NDIS', 'NdisClOpenAddressFamilyEx');
    const reg = b.miniport.afs.find((r) => r.af === af);
    if (!reg) return { status: this.ret('Client', NDIS_STATUS_FAILURE), afHandle: undefined };
    const h = new NdisAfHandle(this.nextId++);
    const rec = new AfRec(h, reg, b, handlers, protocolAfContext);
    this.afs.set(h, rec);
    const r = this.handlerCtx(reg.party, 'ProtocolCmOpenAf', () =>
      reg.handlers.cmOpenAf ? reg.handlers.cmOpenAf(reg.cmBindingContext, af, h) : NDIS_STATUS_SUCCESS,
    );
    const { status, context } = splitResult(r);
    if (status === NDIS_STATUS_PENDING) {
      rec.resolve = resolve;
      return { status: this.ret('Client', status), afHandle: h };
    }
    if (status === NDIS_STATUS_SUCCESS) {
      rec.state = 'open';
      rec.cmAfContext = context ?? h;
      return { status: this.ret('Client', status), afHandle: h };
    }
    this.afs.delete(h);
    return { status: this.ret('Client', status), afHandle: undefined };
  }

  /** NdisCmOpenAddressFamilyComplete / NdisMCmOpenAddressFamilyComplete */
  cmOpenAddressFamilyComplete(status: NdisStatus, afHandle: NdisAfHandle, callMgrAfContext?: unknown): void {
    const af = this.need(this.afs.get(afHandle), 'NdisCmOpenAddressFamilyComplete');
    this.tr('complete-call', af.reg.party, 'NDIS', 'NdisCmOpenAddressFamilyComplete', undefined, status);
    if (af.state !== 'opening') {
      this.verifier.flag(ruleCode(20), 'NdisCmOpenAddressFamilyComplete for an AF open that did not pend');
      return;
    }
    if (status === NDIS_STATUS_SUCCESS) {
      af.state = 'open';
      af.cmAfContext = callMgrAfContext ?? afHandle;
    } else {
      af.state = 'closed';
      this.afs.delete(afHandle);
    }
    const resolve = af.resolve;
    af.resolve = undefined;
    this.deliver(() => {
      this.tr('deliver', 'NDIS', 'Client', 'ProtocolClOpenAfCompleteEx', undefined, status);
      af.clientHandlers.clOpenAfComplete?.(status, af.clientAfContext, afHandle);
      resolve?.(status);
    });
  }

  /** NdisClCloseAddressFamily: the CM may refuse (NOT_ACCEPTED) or pend while calls are open (E66). */
  clCloseAddressFamily(afHandle: NdisAfHandle): NdisStatus {
    const resolve = this.takeArmed();
    const af = this.need(this.afs.get(afHandle), 'NdisClCloseAddressFamily');
    this.tr('call', 'Client', 'NDIS', 'NdisClCloseAddressFamily');
    if (af.state !== 'open') return this.ret('Client', NDIS_STATUS_NOT_ACCEPTED);
    af.state = 'closing';
    const st = this.handler(af.reg.party, 'ProtocolCmCloseAf', undefined, () =>
      af.reg.handlers.cmCloseAf ? af.reg.handlers.cmCloseAf(af.cmAfContext) : NDIS_STATUS_SUCCESS,
    );
    if (st === NDIS_STATUS_PENDING) {
      af.resolve = resolve;
      return this.ret('Client', st);
    }
    this.finishCloseAf(af, st);
    return this.ret('Client', st);
  }

  /** NdisCmCloseAddressFamilyComplete / NdisMCmCloseAddressFamilyComplete */
  cmCloseAddressFamilyComplete(status: NdisStatus, afHandle: NdisAfHandle): void {
    const af = this.need(this.afs.get(afHandle), 'NdisCmCloseAddressFamilyComplete');
    this.tr('complete-call', af.reg.party, 'NDIS', 'NdisCmCloseAddressFamilyComplete', undefined, status);
    if (af.state !== 'closing') {
      this.verifier.flag(ruleCode(20), 'NdisCmCloseAddressFamilyComplete for a close that did not pend');
      return;
    }
    this.finishCloseAf(af, status);
    const resolve = af.resolve;
    af.resolve = undefined;
    this.deliver(() => {
      this.tr('deliver', 'NDIS', 'Client', 'ProtocolClCloseAfComplete', undefined, status);
      af.clientHandlers.clCloseAfComplete?.(status, af.clientAfContext);
      resolve?.(status);
    });
  }

  private finishCloseAf(af: AfRec, status: NdisStatus): void {
    if (status === NDIS_STATUS_SUCCESS) {
      af.state = 'closed';
      this.afs.delete(af.handle);
    } else {
      af.state = 'open';
    }
  }

  /** Promise form of clCloseAddressFamily. */
  clCloseAddressFamilyAsync(afHandle: NdisAfHandle): Promise<NdisStatus> {
    return this.arm(() => this.clCloseAddressFamily(afHandle));
  }

  /** NdisClRegisterSap: NDIS calls the CM's ProtocolCmRegisterSap. */
  clRegisterSap(
    afHandle: NdisAfHandle,
    sap: unknown,
    protocolSapContext?: unknown,
  ): { status: NdisStatus; sapHandle: NdisSapHandle | undefined } {
    const af = this.need(this.afs.get(afHandle), 'NdisClRegisterSap');
    this.tr('call', 'Client', 'NDIS', 'NdisClRegisterSap');
    if (af.state !== 'open') return { status: this.ret('Client', NDIS_STATUS_FAILURE), sapHandle: undefined };
    const h = new NdisSapHandle(this.nextId++);
    const rec = new SapRec(h, af, sap, protocolSapContext);
    this.saps.set(h, rec);
    af.saps.add(rec);
    const r = this.handlerCtx(af.reg.party, 'ProtocolCmRegisterSap', () =>
      af.reg.handlers.cmRegisterSap
        ? af.reg.handlers.cmRegisterSap(af.cmAfContext, sap, h)
        : NDIS_STATUS_SUCCESS,
    );
    const { status, context } = splitResult(r);
    if (status === NDIS_STATUS_PENDING) return { status: this.ret('Client', status), sapHandle: h };
    if (status === NDIS_STATUS_SUCCESS) {
      rec.state = 'open';
      rec.cmSapContext = context ?? h;
      return { status: this.ret('Client', status), sapHandle: h };
    }
    this.saps.delete(h);
    af.saps.delete(rec);
    return { status: this.ret('Client', status), sapHandle: undefined };
  }

  /** NdisCmRegisterSapComplete */
  cmRegisterSapComplete(status: NdisStatus, sapHandle: NdisSapHandle, callMgrSapContext?: unknown): void {
    const sap = this.need(this.saps.get(sapHandle), 'NdisCmRegisterSapComplete');
    this.tr('complete-call', sap.af.reg.party, 'NDIS', 'NdisCmRegisterSapComplete', undefined, status);
    if (sap.state !== 'registering') {
      this.verifier.flag(ruleCode(20), 'NdisCmRegisterSapComplete for a registration that did not pend');
      return;
    }
    if (status === NDIS_STATUS_SUCCESS) {
      sap.state = 'open';
      sap.cmSapContext = callMgrSapContext ?? sapHandle;
    } else {
      sap.state = 'closed';
      this.saps.delete(sapHandle);
      sap.af.saps.delete(sap);
    }
    this.deliver(() => {
      this.tr('deliver', 'NDIS', 'Client', 'ProtocolClRegisterSapComplete', undefined, status);
      sap.af.clientHandlers.clRegisterSapComplete?.(status, sap.clientSapContext, sap.sap, sapHandle);
    });
  }

  /** NdisClDeregisterSap: FAILURE on a SAP already closing. */
  clDeregisterSap(sapHandle: NdisSapHandle): NdisStatus {
    const sap = this.need(this.saps.get(sapHandle), 'NdisClDeregisterSap');
    this.tr('call', 'Client', 'NDIS', 'NdisClDeregisterSap');
    if (sap.state !== 'open') return this.ret('Client', NDIS_STATUS_FAILURE);
    sap.state = 'closing';
    const st = this.handler(sap.af.reg.party, 'ProtocolCmDeregisterSap', undefined, () =>
      sap.af.reg.handlers.cmDeregisterSap
        ? sap.af.reg.handlers.cmDeregisterSap(sap.cmSapContext)
        : NDIS_STATUS_SUCCESS,
    );
    if (st !== NDIS_STATUS_PENDING) this.finishDeregisterSap(sap, st);
    return this.ret('Client', st);
  }

  /** NdisCmDeregisterSapComplete */
  cmDeregisterSapComplete(status: NdisStatus, sapHandle: NdisSapHandle): void {
    const sap = this.need(this.saps.get(sapHandle), 'NdisCmDeregisterSapComplete');
    this.tr('complete-call', sap.af.reg.party, 'NDIS', 'NdisCmDeregisterSapComplete', undefined, status);
    if (sap.state !== 'closing') {
      this.verifier.flag(ruleCode(20), 'NdisCmDeregisterSapComplete for a deregistration that did not pend');
      return;
    }
    this.finishDeregisterSap(sap, status);
    this.deliver(() => {
      this.tr('deliver', 'NDIS', 'Client', 'ProtocolClDeregisterSapComplete', undefined, status);
      sap.af.clientHandlers.clDeregisterSapComplete?.(status, sap.clientSapContext);
    });
  }

  private finishDeregisterSap(sap: SapRec, status: NdisStatus): void {
    if (status === NDIS_STATUS_SUCCESS) {
      sap.state = 'closed';
      this.saps.delete(sap.handle);
      sap.af.saps.delete(sap);
    } else {
      sap.state = 'open';
    }
  }

  // ---------------------------------------------------------------------------------------------
  // A. Creation

  /**
   * NdisCoCreateVc. A client (outgoing call) or a CM (incoming call, or `afHandle` null for its
   * own signalling VC). Before returning, NDIS calls MiniportCoCreateVc, then the other protocol's
   * ProtocolCoCreateVc (none for a signalling VC; only the MCM's over an MCM). If the peer fails,
   * MiniportCoDeleteVc undoes the miniport's part (spec §1.2-A [POLICY]). Synchronous only.
   */
  coCreateVc(
    binding: NdisBindingHandle,
    afHandle: NdisAfHandle | null,
    protocolVcContext?: unknown,
  ): { status: NdisStatus; vcHandle: NdisVcHandle | undefined } {
    try {
      return this.createVc(binding, afHandle, protocolVcContext);
    } finally {
      this.raiseFatal();
    }
  }

  private createVc(
    binding: NdisBindingHandle,
    afHandle: NdisAfHandle | null,
    protocolVcContext: unknown,
  ): { status: NdisStatus; vcHandle: NdisVcHandle | undefined } {
    const name = 'NdisCoCreateVc';
    const b = this.bindings.get(binding);
    const af = afHandle ? this.afs.get(afHandle) : undefined;
    let role: Role;
    let reg: AfRegistration | undefined;
    if (afHandle && af?.state === 'open') {
      reg = af.reg;
      role = af.clientBinding === b ? 'client' : 'cm';
      if (role === 'cm' && reg.binding !== b) {
        this.verifier.flag(
          CondisErrorCode.WRONG_CALLER,
          `${name}: binding does not belong to the AF's client or CM`,
        );
        return { status: NDIS_STATUS_FAILURE, vcHandle: undefined };
      }
    } else {
      role = 'cm';
      reg = b?.cmAfs[0];
    }
    const party: Party = role === 'client' ? 'Client' : 'CallManager';
    this.tr('call', party, 'NDIS', name, undefined, undefined, afHandle ? undefined : 'AF=NULL');
    if (!b || (afHandle && af?.state !== 'open') || !reg) {
      // Unknown binding, a bad AF handle, or an AF-less VC from a protocol that is no call manager.
      return { status: this.ret(party, NDIS_STATUS_FAILURE), vcHandle: undefined };
    }
    const mp = b.miniport;
    const vc = this.allocVc(role, mp.isMcm, mp, reg, af);
    vc.ctx[role] = protocolVcContext;
    if (!mp.isMcm) {
      const st = this.callCreate(vc, 'miniport', 'MiniportCoCreateVc', () =>
        mp.handlers.coCreateVc ? mp.handlers.coCreateVc(mp.adapterContext, this.handleOf(vc, 'miniport')) : 0,
      );
      if (st !== NDIS_STATUS_SUCCESS) {
        this.freeVc(vc);
        return { status: this.ret(party, st), vcHandle: undefined };
      }
    }
    if (af) {
      const peer: Role = role === 'client' ? 'cm' : 'client';
      const st = this.callCreate(vc, peer, 'ProtocolCoCreateVc', () => {
        const ph = this.handleOf(vc, peer);
        if (peer === 'cm') return reg.handlers.coCreateVc ? reg.handlers.coCreateVc(af.cmAfContext, ph) : 0;
        return af.clientHandlers.coCreateVc ? af.clientHandlers.coCreateVc(af.clientAfContext, ph) : 0;
      });
      if (st !== NDIS_STATUS_SUCCESS) {
        if (!mp.isMcm) this.callDelete(vc, 'miniport', 'MiniportCoDeleteVc');
        this.freeVc(vc);
        return { status: this.ret(party, st), vcHandle: undefined };
      }
      // Over an MCM the MCM's VC context doubles as its miniport VC context.
      if (mp.isMcm) vc.ctx.miniport = vc.ctx.cm;
    }
    this.ret(party, NDIS_STATUS_SUCCESS, vc);
    return { status: NDIS_STATUS_SUCCESS, vcHandle: this.handleOf(vc, role) };
  }

  /** NdisMCmCreateVc: an MCM creates the VC of an incoming call; NDIS calls the client's ProtocolCoCreateVc. */
  mCmCreateVc(
    miniport: NdisMiniportHandle,
    afHandle: NdisAfHandle,
    miniportVcContext?: unknown,
  ): { status: NdisStatus; vcHandle: NdisVcHandle | undefined } {
    try {
      return this.mCreateVc(miniport, afHandle, miniportVcContext);
    } finally {
      this.raiseFatal();
    }
  }

  private mCreateVc(
    miniport: NdisMiniportHandle,
    afHandle: NdisAfHandle,
    miniportVcContext: unknown,
  ): { status: NdisStatus; vcHandle: NdisVcHandle | undefined } {
    const name = 'NdisMCmCreateVc';
    const mp = this.need(this.miniports.get(miniport), name);
    this.tr('call', 'MCM', 'NDIS', name);
    const af = this.afs.get(afHandle);
    if (!mp.isMcm)
      this.verifier.flag(CondisErrorCode.WRONG_VARIANT, `${name} from a miniport that is not an MCM`);
    if (af?.state !== 'open' || af.reg.miniport !== mp) {
      return { status: this.ret('MCM', NDIS_STATUS_FAILURE), vcHandle: undefined };
    }
    const vc = this.allocVc('cm', true, mp, af.reg, af);
    vc.ctx.cm = miniportVcContext;
    vc.ctx.miniport = miniportVcContext;
    const st = this.callCreate(vc, 'client', 'ProtocolCoCreateVc', () =>
      af.clientHandlers.coCreateVc
        ? af.clientHandlers.coCreateVc(af.clientAfContext, this.handleOf(vc, 'client'))
        : 0,
    );
    if (st !== NDIS_STATUS_SUCCESS) {
      this.freeVc(vc);
      return { status: this.ret('MCM', st), vcHandle: undefined };
    }
    this.ret('MCM', NDIS_STATUS_SUCCESS, vc);
    return { status: NDIS_STATUS_SUCCESS, vcHandle: this.handleOf(vc, 'cm') };
  }

  // ---------------------------------------------------------------------------------------------
  // D. Deletion

  /**
   * NdisCoDeleteVc, by the VC's creator only. Needs A=INACTIVE and C=IDLE: NOT_ACCEPTED while
   * active or activating (or with a call outstanding), CLOSING while deactivating, no handler
   * called. Then the sharing peer's ProtocolCoDeleteVc (it may refuse: the VC survives), then
   * MiniportCoDeleteVc (not over an MCM). The handle is dead on return.
   */
  coDeleteVc(vcHandle: NdisVcHandle): NdisStatus {
    return this.deleteVc(vcHandle, 'NdisCoDeleteVc', false);
  }

  /** NdisMCmDeleteVc: an MCM deletes a VC it created; NDIS calls the client's ProtocolCoDeleteVc only. */
  mCmDeleteVc(vcHandle: NdisVcHandle): NdisStatus {
    return this.deleteVc(vcHandle, 'NdisMCmDeleteVc', true);
  }

  private deleteVc(vcHandle: NdisVcHandle, name: string, mcmCall: boolean): NdisStatus {
    try {
      return this.deleteVcInner(vcHandle, name, mcmCall);
    } finally {
      this.raiseFatal();
    }
  }

  private deleteVcInner(vcHandle: NdisVcHandle, name: string, mcmCall: boolean): NdisStatus {
    const role = roleOf(vcHandle);
    const vc = this.vcOf(vcHandle, name);
    if (!vc) return NDIS_STATUS_INVALID_PARAMETER;
    const party = this.partyOf(vc, role);
    this.tr('call', party, 'NDIS', name, vc);
    if (role !== vc.creator) {
      this.ret(party, NDIS_STATUS_NOT_ACCEPTED, vc);
      this.verifier.flag(ruleCode(56), `${name} by the ${role}, which did not create the VC`, this.snap(vc));
      return NDIS_STATUS_NOT_ACCEPTED;
    }
    if (mcmCall !== (vc.mcm && vc.creator === 'cm')) this.wrongVariant(vc, name);
    this.catchUp(vc);
    return vc.mailbox.hold(() => {
      const out = activationTransition(vc.a, 'DELETE');
      if (!out) return this.ret(party, this.badTransition(vc, 'DELETE', name), vc);
      if (out.refuse !== undefined) return this.ret(party, out.refuse, vc);
      if (vc.c !== 'IDLE') return this.ret(party, NDIS_STATUS_NOT_ACCEPTED, vc); // [POLICY] call outstanding
      if (vc.af) {
        const peer: Role = vc.creator === 'client' ? 'cm' : 'client';
        const st = this.callDelete(vc, peer, 'ProtocolCoDeleteVc');
        if (st !== NDIS_STATUS_SUCCESS) return this.ret(party, st, vc); // E57: the VC survives
      }
      if (!vc.mcm) this.callDelete(vc, 'miniport', 'MiniportCoDeleteVc');
      this.setA(vc, out.next);
      this.freeVc(vc);
      return this.ret(party, NDIS_STATUS_SUCCESS);
    });
  }

  // ---------------------------------------------------------------------------------------------
  // B. Activation

  /**
   * NdisCmActivateVc (stand-alone CM): activate, or re-activate an active VC with new parameters.
   * NOT_ACCEPTED while another activation is pending, CLOSING while deactivating, the miniport
   * not called. Otherwise NDIS calls MiniportCoActivateVc; its final status is returned (and the
   * CM completes for itself), PENDING ends in ProtocolCmActivateVcComplete.
   */
  cmActivateVc(vcHandle: NdisVcHandle, callParameters: CoCallParameters): NdisStatus {
    const name = 'NdisCmActivateVc';
    const resolve = this.takeArmed();
    const vc = this.vcOf(vcHandle, name, 'cm');
    if (!vc) return NDIS_STATUS_INVALID_PARAMETER;
    const party = this.partyOf(vc, 'cm');
    this.tr('call', party, 'NDIS', name, vc);
    if (vc.mcm) this.wrongVariant(vc, name);
    this.catchUp(vc);
    return vc.mailbox.hold(() => {
      const out = activationTransition(vc.a, 'ACTIVATE');
      if (!out) return this.ret(party, this.badTransition(vc, 'ACTIVATE', name), vc);
      if (out.refuse !== undefined) return this.ret(party, out.refuse, vc);
      const reused = vc.a === 'INACTIVE' && callParameters === vc.voidedParams;
      this.setA(vc, out.next);
      const req: ActReq = { params: callParameters, pended: false, resolve };
      vc.act = req;
      let st: NdisStatus = NDIS_STATUS_SUCCESS;
      if (out.effects.includes('callMiniportActivate')) {
        const mp = vc.miniport;
        st = this.handler('Miniport', 'MiniportCoActivateVc', vc, () =>
          mp.handlers.coActivateVc
            ? mp.handlers.coActivateVc(vc.ctx.miniport, callParameters)
            : NDIS_STATUS_SUCCESS,
        );
      }
      if (st === NDIS_STATUS_PENDING) req.pended = true;
      else this.finishActivate(vc, st);
      const r = this.ret(party, st, vc);
      if (reused)
        this.verifier.flag(
          ruleCode(50),
          `${name} reuses the parameter set voided by the last deactivation`,
          this.snap(vc),
        );
      return r;
    });
  }

  /** Promise form of cmActivateVc. */
  cmActivateVcAsync(vcHandle: NdisVcHandle, callParameters: CoCallParameters): Promise<NdisStatus> {
    return this.arm(() => this.cmActivateVc(vcHandle, callParameters));
  }

  /**
   * NdisMCoActivateVcComplete: the miniport finishes an activation it pended. PENDING is invalid
   * (E19); completing an activation that did not pend is a contract break (E20).
   */
  mCoActivateVcComplete(status: NdisStatus, vcHandle: NdisVcHandle, callParameters?: CoCallParameters): void {
    const name = 'NdisMCoActivateVcComplete';
    const vc = this.vcOf(vcHandle, name);
    if (!vc) return;
    this.tr('complete-call', this.partyOf(vc, 'miniport'), 'NDIS', name, vc, status);
    if (status === NDIS_STATUS_PENDING) {
      this.verifier.flag(ruleCode(19), `${name} with NDIS_STATUS_PENDING`, this.snap(vc));
      return;
    }
    vc.mailbox.post(() => {
      const req = vc.act;
      if (!req?.pended) {
        this.verifier.flag(ruleCode(20), `${name} without a pended MiniportCoActivateVc`, this.snap(vc));
        return;
      }
      if (callParameters && callParameters !== req.params) Object.assign(req.params, callParameters);
      this.finishActivate(vc, status);
    });
  }

  /**
   * NdisMCmActivateVc (MCM only): the MCM has programmed its NIC and tells NDIS the parameters in
   * force (A15; spec §5 C7: no miniport handler is called). Always a final status here.
   */
  mCmActivateVc(vcHandle: NdisVcHandle, callParameters: CoCallParameters): NdisStatus {
    const name = 'NdisMCmActivateVc';
    const vc = this.vcOf(vcHandle, name);
    if (!vc) return NDIS_STATUS_INVALID_PARAMETER;
    this.tr('call', 'MCM', 'NDIS', name, vc);
    if (!vc.mcm) this.wrongVariant(vc, name);
    this.catchUp(vc);
    return vc.mailbox.hold(() => {
      const out = activationTransition(vc.a, 'MCM_ACTIVATE');
      if (!out) return this.ret('MCM', this.badTransition(vc, 'MCM_ACTIVATE', name), vc);
      if (out.refuse !== undefined) return this.ret('MCM', out.refuse, vc);
      const reused = vc.a === 'INACTIVE' && callParameters === vc.voidedParams;
      this.applyA(vc, 'MCM_ACTIVATE', callParameters);
      const r = this.ret('MCM', NDIS_STATUS_SUCCESS, vc);
      if (reused) this.verifier.flag(ruleCode(50), `${name} reuses a voided parameter set`, this.snap(vc));
      return r;
    });
  }

  /** Promise form of mCmActivateVc. */
  mCmActivateVcAsync(vcHandle: NdisVcHandle, callParameters: CoCallParameters): Promise<NdisStatus> {
    return this.arm(() => this.mCmActivateVc(vcHandle, callParameters));
  }

  private finishActivate(vc: VcRec, status: NdisStatus): void {
    const req = vc.act!;
    vc.act = undefined;
    this.applyA(vc, status === NDIS_STATUS_SUCCESS ? 'ACTIVATE_OK' : 'ACTIVATE_FAIL', req.params);
    if (!req.pended) return;
    this.deliver(() => {
      this.tr('deliver', 'NDIS', this.partyOf(vc, 'cm'), 'ProtocolCmActivateVcComplete', vc, status);
      vc.reg.handlers.cmActivateVcComplete?.(status, vc.ctx.cm, req.params);
      req.resolve?.(status);
    }, vc);
  }

  // ---------------------------------------------------------------------------------------------
  // C. Deactivation and the drain

  /**
   * NdisCmDeactivateVc (stand-alone CM). NOT_ACCEPTED while an activation is pending or when the VC
   * is not active, CLOSING while a deactivation is pending, the miniport not called. Otherwise the
   * stop bit is set (new sends complete with CLOSING) and NDIS calls MiniportCoDeactivateVc once.
   * The deactivation completes when the miniport has completed it AND the VC's drain counter is
   * zero (every send in the miniport completed, every non-RESOURCES receive returned).
   */
  cmDeactivateVc(vcHandle: NdisVcHandle): NdisStatus {
    const name = 'NdisCmDeactivateVc';
    const resolve = this.takeArmed();
    const vc = this.vcOf(vcHandle, name, 'cm');
    if (!vc) return NDIS_STATUS_INVALID_PARAMETER;
    const party = this.partyOf(vc, 'cm');
    this.tr('call', party, 'NDIS', name, vc);
    if (vc.mcm) this.wrongVariant(vc, name);
    this.catchUp(vc);
    return vc.mailbox.hold(() => {
      const out = activationTransition(vc.a, 'DEACTIVATE');
      if (!out) return this.ret(party, this.badTransition(vc, 'DEACTIVATE', name), vc);
      if (out.refuse !== undefined) return this.ret(party, out.refuse, vc);
      this.applyA(vc, 'DEACTIVATE');
      const req: DeactReq = { pended: false, resolve, miniportDone: false, timer: undefined };
      vc.deact = req;
      const mp = vc.miniport;
      const st = this.handler('Miniport', 'MiniportCoDeactivateVc', vc, () =>
        mp.handlers.coDeactivateVc ? mp.handlers.coDeactivateVc(vc.ctx.miniport) : NDIS_STATUS_SUCCESS,
      );
      if (st === NDIS_STATUS_PENDING) {
        req.pended = true;
        this.armDeadline(vc, req);
        return this.ret(party, st, vc);
      }
      if (st !== NDIS_STATUS_SUCCESS) {
        this.finishDeactivate(vc, st);
        return this.ret(party, st, vc);
      }
      req.miniportDone = true;
      if (vc.drain.idle) {
        this.finishDeactivate(vc, NDIS_STATUS_SUCCESS);
        return this.ret(party, NDIS_STATUS_SUCCESS, vc);
      }
      // E43: SUCCESS with work outstanding. NDIS keeps the VC deactivating until the drain ends
      // and then completes through ProtocolCmDeactivateVcComplete, so the CM sees PENDING.
      req.pended = true;
      this.armDeadline(vc, req);
      this.ret(party, NDIS_STATUS_PENDING, vc);
      this.verifier.flag(
        ruleCode(43),
        'MiniportCoDeactivateVc returned SUCCESS with work outstanding',
        this.snap(vc),
      );
      return NDIS_STATUS_PENDING;
    });
  }

  /** Promise form of cmDeactivateVc. */
  cmDeactivateVcAsync(vcHandle: NdisVcHandle): Promise<NdisStatus> {
    return this.arm(() => this.cmDeactivateVc(vcHandle));
  }

  /**
   * NdisMCoDeactivateVcComplete: the miniport finishes a deactivation it pended. With SUCCESS it
   * asserts the drain (spec §2.4): completing while sends or receives are outstanding is E43
   * (NDIS then waits for the counter); PENDING is E19; a deactivation that did not pend, or a
   * second completion, is E20.
   */
  mCoDeactivateVcComplete(status: NdisStatus, vcHandle: NdisVcHandle): void {
    this.completeDeactivation(status, vcHandle, 'NdisMCoDeactivateVcComplete', true);
  }

  /**
   * condis-tap extension of NdisMCoDeactivateVcComplete(SUCCESS): "complete as soon as NDIS's drain
   * counter for this VC reaches zero". The miniport calls it once it has stopped placing new
   * receives for the VC (spec §2.4 condition 3); NDIS's counter then decides conditions 1 and 2,
   * so a miniport over a device needs no counting of its own. Completes at once if already drained.
   */
  mCoDeactivateVcCompleteWhenDrained(vcHandle: NdisVcHandle): void {
    this.completeDeactivation(NDIS_STATUS_SUCCESS, vcHandle, 'NdisMCoDeactivateVcComplete', false);
  }

  private completeDeactivation(
    status: NdisStatus,
    vcHandle: NdisVcHandle,
    name: string,
    strict: boolean,
  ): void {
    const vc = this.vcOf(vcHandle, name);
    if (!vc) return;
    this.tr(
      'complete-call',
      this.partyOf(vc, 'miniport'),
      'NDIS',
      name,
      vc,
      status,
      strict ? undefined : 'when drained',
    );
    if (status === NDIS_STATUS_PENDING) {
      this.verifier.flag(ruleCode(19), `${name} with NDIS_STATUS_PENDING`, this.snap(vc));
      return;
    }
    vc.mailbox.post(() => {
      const req = vc.deact;
      if (!req?.pended || req.miniportDone) {
        this.verifier.flag(
          ruleCode(20),
          `${name} without a pended MiniportCoDeactivateVc (or twice)`,
          this.snap(vc),
        );
        return;
      }
      if (status !== NDIS_STATUS_SUCCESS) {
        this.finishDeactivate(vc, status);
        return;
      }
      req.miniportDone = true;
      if (vc.drain.idle) this.finishDeactivate(vc, NDIS_STATUS_SUCCESS);
      else if (strict)
        this.verifier.flag(ruleCode(43), `${name}(SUCCESS) with work outstanding`, this.snap(vc));
    });
  }

  /**
   * NdisMCmDeactivateVc (MCM only): returns a final status (spec §5 C3): SUCCESS (VC inactive) or
   * NOT_ACCEPTED (already inactive). The MCM must have drained the VC first (spec §2.4); if it has
   * not (E43), NDIS returns PENDING, waits for the drain and then calls the MCM's
   * ProtocolCmDeactivateVcComplete, as C3 prescribes for a pending return.
   */
  mCmDeactivateVc(vcHandle: NdisVcHandle): NdisStatus {
    const name = 'NdisMCmDeactivateVc';
    const resolve = this.takeArmed();
    const vc = this.vcOf(vcHandle, name);
    if (!vc) return NDIS_STATUS_INVALID_PARAMETER;
    this.tr('call', 'MCM', 'NDIS', name, vc);
    if (!vc.mcm) this.wrongVariant(vc, name);
    this.catchUp(vc);
    return vc.mailbox.hold(() => {
      const out = activationTransition(vc.a, 'MCM_DEACTIVATE');
      if (!out) return this.ret('MCM', this.badTransition(vc, 'MCM_DEACTIVATE', name), vc);
      if (out.refuse !== undefined) return this.ret('MCM', out.refuse, vc);
      if (vc.drain.idle) {
        this.applyA(vc, 'MCM_DEACTIVATE');
        this.afterDeactivated(vc);
        return this.ret('MCM', NDIS_STATUS_SUCCESS, vc);
      }
      this.applyA(vc, 'DEACTIVATE');
      const req: DeactReq = { pended: true, resolve, miniportDone: true, timer: undefined };
      vc.deact = req;
      this.armDeadline(vc, req);
      this.ret('MCM', NDIS_STATUS_PENDING, vc);
      this.verifier.flag(ruleCode(43), `${name} with work outstanding`, this.snap(vc));
      return NDIS_STATUS_PENDING;
    });
  }

  /** Promise form of mCmDeactivateVc. */
  mCmDeactivateVcAsync(vcHandle: NdisVcHandle): Promise<NdisStatus> {
    return this.arm(() => this.mCmDeactivateVc(vcHandle));
  }

  private finishDeactivate(vc: VcRec, status: NdisStatus): void {
    const req = vc.deact!;
    vc.deact = undefined;
    if (req.timer !== undefined) this.clock.clearTimer(req.timer);
    this.applyA(vc, status === NDIS_STATUS_SUCCESS ? 'DEACTIVATE_OK' : 'DEACTIVATE_FAIL');
    if (req.pended) {
      this.deliver(() => {
        this.tr('deliver', 'NDIS', this.partyOf(vc, 'cm'), 'ProtocolCmDeactivateVcComplete', vc, status);
        vc.reg.handlers.cmDeactivateVcComplete?.(status, vc.ctx.cm);
        req.resolve?.(status);
      }, vc);
    }
    // A close completion held back by E34 goes out now (flagged again if the deactivation failed).
    this.afterDeactivated(vc);
  }

  /** A close completion held back by E34 goes out once the VC is inactive. */
  private afterDeactivated(vc: VcRec): void {
    const held = vc.heldClose;
    if (!held) return;
    vc.heldClose = undefined;
    this.finishClose(vc, held.status, held.req);
  }

  /** The drain counter reached zero while stopping. */
  private onDrained(vc: VcRec): void {
    vc.mailbox.post(() => {
      const req = vc.deact;
      if (req?.miniportDone && vc.drain.idle) this.finishDeactivate(vc, NDIS_STATUS_SUCCESS);
    });
  }

  private armDeadline(vc: VcRec, req: DeactReq): void {
    const ms = this.deactivationDeadlineMs;
    if (!ms || ms <= 0) return;
    req.timer = this.clock.setTimer(ms, () => {
      req.timer = undefined;
      if (vc.deact !== req) return;
      this.tr('note', 'NDIS', 'NDIS', 'deactivation deadline', vc, undefined, `${ms} ms`);
      this.verifier.report(
        CondisErrorCode.DRAIN_TIMEOUT,
        `deactivation did not drain within ${ms} ms; aborting`,
        this.snap(vc),
      );
      // The hook runs outside the mailbox so that a completion from inside it is processed at once.
      const mp = vc.miniport;
      if (mp.handlers.coAbortVc)
        this.handler(this.partyOf(vc, 'miniport'), 'MiniportCoAbortVc', vc, () => {
          mp.handlers.coAbortVc!(vc.ctx.miniport);
          return undefined;
        });
      if (vc.deact === req)
        vc.mailbox.post(() => vc.deact === req && this.finishDeactivate(vc, NDIS_STATUS_REQUEST_ABORTED));
    });
  }

  // ---------------------------------------------------------------------------------------------
  // E. Outgoing call

  /**
   * NdisClMakeCall: the client, on a VC it created. NDIS calls the CM's ProtocolCmMakeCall; a
   * final status is the client's to handle, PENDING ends in ProtocolClMakeCallComplete with the
   * same CallParameters object (E24). Refused while a call is in progress; E36 if the VC must be
   * deleted instead.
   */
  clMakeCall(
    vcHandle: NdisVcHandle,
    callParameters: CoCallParameters,
    protocolPartyContext?: unknown,
  ): NdisStatus {
    const name = 'NdisClMakeCall';
    const resolve = this.takeArmed();
    const vc = this.vcOf(vcHandle, name, 'client');
    if (!vc) return NDIS_STATUS_INVALID_PARAMETER;
    this.tr('call', 'Client', 'NDIS', name, vc);
    if (vc.creator !== 'client' || vc.mustDelete) {
      this.ret('Client', NDIS_STATUS_NOT_ACCEPTED, vc);
      if (vc.mustDelete)
        this.verifier.flag(
          ruleCode(36),
          `${name} on a VC closed with a failure CloseStatus: delete it`,
          this.snap(vc),
        );
      else
        this.verifier.flag(
          CondisErrorCode.WRONG_CALLER,
          `${name} on a VC the client did not create`,
          this.snap(vc),
        );
      return NDIS_STATUS_NOT_ACCEPTED;
    }
    void protocolPartyContext;
    return vc.mailbox.hold(() => {
      const out = this.callOutcome(vc, 'MAKE_CALL', name);
      if (out !== undefined) return this.ret('Client', out, vc);
      const req: MakeReq = { params: callParameters, pended: false, resolve };
      vc.make = req;
      const st = this.handler(this.partyOf(vc, 'cm'), 'ProtocolCmMakeCall', vc, () =>
        vc.reg.handlers.cmMakeCall
          ? vc.reg.handlers.cmMakeCall(vc.ctx.cm, callParameters, undefined)
          : NDIS_STATUS_NOT_SUPPORTED,
      );
      if (st === NDIS_STATUS_PENDING) {
        req.pended = true;
        return this.ret('Client', st, vc);
      }
      return this.ret('Client', this.finishMakeCall(vc, st, undefined), vc);
    });
  }

  /** Promise form of clMakeCall. */
  clMakeCallAsync(vcHandle: NdisVcHandle, callParameters: CoCallParameters): Promise<NdisStatus> {
    return this.arm(() => this.clMakeCall(vcHandle, callParameters));
  }

  /** NdisCmMakeCallComplete: SUCCESS only once the VC is active (E21). */
  cmMakeCallComplete(
    status: NdisStatus,
    vcHandle: NdisVcHandle,
    ndisPartyHandle?: unknown,
    callMgrPartyContext?: unknown,
    callParameters?: CoCallParameters,
  ): void {
    void ndisPartyHandle;
    void callMgrPartyContext;
    this.makeCallComplete(status, vcHandle, callParameters, 'NdisCmMakeCallComplete', false);
  }

  /** NdisMCmMakeCallComplete */
  mCmMakeCallComplete(
    status: NdisStatus,
    vcHandle: NdisVcHandle,
    ndisPartyHandle?: unknown,
    callMgrPartyContext?: unknown,
    callParameters?: CoCallParameters,
  ): void {
    void ndisPartyHandle;
    void callMgrPartyContext;
    this.makeCallComplete(status, vcHandle, callParameters, 'NdisMCmMakeCallComplete', true);
  }

  private makeCallComplete(
    status: NdisStatus,
    vcHandle: NdisVcHandle,
    params: CoCallParameters | undefined,
    name: string,
    mcm: boolean,
  ): void {
    const vc = this.vcOf(vcHandle, name, 'cm');
    if (!vc) return;
    this.tr('complete-call', this.partyOf(vc, 'cm'), 'NDIS', name, vc, status);
    if (vc.mcm !== mcm) this.wrongVariant(vc, name);
    if (status === NDIS_STATUS_PENDING) {
      this.verifier.flag(ruleCode(19), `${name} with PENDING`, this.snap(vc));
      return;
    }
    vc.mailbox.post(() => {
      if (!vc.make?.pended)
        return this.verifier.flag(ruleCode(20), `${name} without a pended ProtocolCmMakeCall`, this.snap(vc));
      this.finishMakeCall(vc, status, params);
    });
  }

  private finishMakeCall(vc: VcRec, status: NdisStatus, params: CoCallParameters | undefined): NdisStatus {
    const req = vc.make!;
    vc.make = undefined;
    if (params && params !== req.params) Object.assign(req.params, params);
    let final = status;
    const active = vc.a === 'ACTIVE' || vc.a === 'REACTIVATING';
    if (status === NDIS_STATUS_SUCCESS && !active) final = NDIS_STATUS_FAILURE; // E21, flagged below
    this.applyC(vc, final === NDIS_STATUS_SUCCESS ? 'MAKE_CALL_OK' : 'MAKE_CALL_FAIL');
    if (req.pended) {
      this.deliver(() => {
        this.tr('deliver', 'NDIS', 'Client', 'ProtocolClMakeCallComplete', vc, final);
        vc.af?.clientHandlers.clMakeCallComplete?.(final, vc.ctx.client, undefined, req.params);
        req.resolve?.(final);
      }, vc);
    }
    if (final !== status)
      this.verifier.flag(
        ruleCode(21),
        'make-call completed with SUCCESS on a VC that is not active',
        this.snap(vc),
      );
    return final;
  }

  // ---------------------------------------------------------------------------------------------
  // F. Incoming call

  /**
   * NdisCmDispatchIncomingCall: the CM offers a call on a VC it created and activated (E25).
   * NDIS calls the SAP owner's ProtocolClIncomingCall: SUCCESS accepts, PENDING ends in
   * ProtocolCmIncomingCallComplete, anything else rejects (the CM then deactivates).
   */
  cmDispatchIncomingCall(
    sapHandle: NdisSapHandle,
    vcHandle: NdisVcHandle,
    callParameters: CoCallParameters,
  ): NdisStatus {
    return this.dispatchIncomingCall(
      sapHandle,
      vcHandle,
      callParameters,
      'NdisCmDispatchIncomingCall',
      false,
    );
  }

  /** NdisMCmDispatchIncomingCall */
  mCmDispatchIncomingCall(
    sapHandle: NdisSapHandle,
    vcHandle: NdisVcHandle,
    callParameters: CoCallParameters,
  ): NdisStatus {
    return this.dispatchIncomingCall(
      sapHandle,
      vcHandle,
      callParameters,
      'NdisMCmDispatchIncomingCall',
      true,
    );
  }

  /** Promise form of cmDispatchIncomingCall / mCmDispatchIncomingCall. */
  dispatchIncomingCallAsync(
    sapHandle: NdisSapHandle,
    vcHandle: NdisVcHandle,
    callParameters: CoCallParameters,
  ): Promise<NdisStatus> {
    return this.arm(() =>
      this.dispatchIncomingCall(
        sapHandle,
        vcHandle,
        callParameters,
        'NdisCmDispatchIncomingCall',
        this.vcs[slotOf(vcHandle)]?.mcm ?? false,
      ),
    );
  }

  private dispatchIncomingCall(
    sapHandle: NdisSapHandle,
    vcHandle: NdisVcHandle,
    params: CoCallParameters,
    name: string,
    mcm: boolean,
  ): NdisStatus {
    const resolve = this.takeArmed();
    const vc = this.vcOf(vcHandle, name, 'cm');
    if (!vc) return NDIS_STATUS_INVALID_PARAMETER;
    const party = this.partyOf(vc, 'cm');
    this.tr('call', party, 'NDIS', name, vc);
    if (vc.mcm !== mcm) this.wrongVariant(vc, name);
    const sap = this.saps.get(sapHandle);
    if (sap?.state !== 'open' || sap.af !== vc.af) return this.ret(party, NDIS_STATUS_FAILURE, vc);
    if (vc.a !== 'ACTIVE') {
      this.ret(party, NDIS_STATUS_VC_NOT_ACTIVATED, vc);
      this.verifier.flag(ruleCode(25), `${name} on a VC that is not active`, this.snap(vc));
      return NDIS_STATUS_VC_NOT_ACTIVATED;
    }
    return vc.mailbox.hold(() => {
      const out = this.callOutcome(vc, 'INCOMING_CALL', name);
      if (out !== undefined) return this.ret(party, out, vc);
      vc.clientDetached = false;
      const req: OfferReq = { params, pended: false, resolve };
      vc.offer = req;
      const client = sap.af.clientHandlers;
      const st = this.handler('Client', 'ProtocolClIncomingCall', vc, () =>
        client.clIncomingCall
          ? client.clIncomingCall(sap.clientSapContext, vc.ctx.client, params)
          : NDIS_STATUS_NOT_SUPPORTED,
      );
      if (st === NDIS_STATUS_PENDING) {
        req.pended = true;
        return this.ret(party, st, vc);
      }
      this.finishOffer(vc, st);
      return this.ret(party, st, vc);
    });
  }

  /** NdisClIncomingCallComplete: the client's answer to an offer it pended. */
  clIncomingCallComplete(
    status: NdisStatus,
    vcHandle: NdisVcHandle,
    callParameters?: CoCallParameters,
  ): void {
    const name = 'NdisClIncomingCallComplete';
    const vc = this.vcOf(vcHandle, name, 'client');
    if (!vc) return;
    this.tr('complete-call', 'Client', 'NDIS', name, vc, status);
    if (status === NDIS_STATUS_PENDING) {
      this.verifier.flag(ruleCode(19), `${name} with PENDING`, this.snap(vc));
      return;
    }
    vc.mailbox.post(() => {
      const req = vc.offer;
      if (!req?.pended)
        return this.verifier.flag(ruleCode(20), `${name} without a pended offer`, this.snap(vc));
      if (callParameters && callParameters !== req.params) Object.assign(req.params, callParameters);
      this.finishOffer(vc, status);
    });
  }

  private finishOffer(vc: VcRec, status: NdisStatus): void {
    const req = vc.offer!;
    vc.offer = undefined;
    this.applyC(vc, status === NDIS_STATUS_SUCCESS ? 'INCOMING_ACCEPT' : 'INCOMING_REJECT');
    if (!req.pended) return;
    this.deliver(() => {
      this.tr('deliver', 'NDIS', this.partyOf(vc, 'cm'), 'ProtocolCmIncomingCallComplete', vc, status);
      vc.reg.handlers.cmIncomingCallComplete?.(status, vc.ctx.cm, req.params);
      req.resolve?.(status);
    }, vc);
  }

  /** NdisCmDispatchCallConnected: only after the client accepted, never after an incoming close (E29). */
  cmDispatchCallConnected(vcHandle: NdisVcHandle): void {
    this.dispatchCallConnected(vcHandle, 'NdisCmDispatchCallConnected', false);
  }

  /** NdisMCmDispatchCallConnected */
  mCmDispatchCallConnected(vcHandle: NdisVcHandle): void {
    this.dispatchCallConnected(vcHandle, 'NdisMCmDispatchCallConnected', true);
  }

  private dispatchCallConnected(vcHandle: NdisVcHandle, name: string, mcm: boolean): void {
    const vc = this.vcOf(vcHandle, name, 'cm');
    if (!vc) return;
    this.tr('call', this.partyOf(vc, 'cm'), 'NDIS', name, vc);
    if (vc.mcm !== mcm) this.wrongVariant(vc, name);
    vc.mailbox.hold(() => {
      const out = callTransition(vc.c, 'CALL_CONNECTED');
      if (!out || out.refuse !== undefined) {
        return this.verifier.flag(
          ruleCode(29),
          `${name} in call state ${vc.c} (not ACCEPTED)`,
          this.snap(vc),
        );
      }
      this.setC(vc, out.next);
      this.handler('Client', 'ProtocolClCallConnected', vc, () => {
        vc.af?.clientHandlers.clCallConnected?.(vc.ctx.client);
        return undefined;
      });
    });
  }

  // ---------------------------------------------------------------------------------------------
  // G. Closing a call

  /**
   * NdisClCloseCall: NDIS marks the call closing (sends now complete with CLOSING) and calls the
   * CM's ProtocolCmCloseCall, which tears down and deactivates. Final status: the client's to
   * handle; PENDING ends in ProtocolClCloseCallComplete, whose SUCCESS means the VC is inactive
   * (E34). Refused while the make-call is pending (U6). Sends still in the miniport are E31.
   */
  clCloseCall(vcHandle: NdisVcHandle, ndisPartyHandle?: unknown, closeData?: Uint8Array): NdisStatus {
    const name = 'NdisClCloseCall';
    const resolve = this.takeArmed();
    const vc = this.vcOf(vcHandle, name, 'client');
    if (!vc) return NDIS_STATUS_INVALID_PARAMETER;
    this.tr('call', 'Client', 'NDIS', name, vc);
    void ndisPartyHandle;
    if (vc.clientDetached) return this.detached(vc, name);
    return vc.mailbox.hold(() => {
      const out = this.callOutcome(vc, 'CLOSE_CALL', name);
      if (out !== undefined) return this.ret('Client', out, vc);
      const sendsOut = vc.drain.txInMiniport;
      const req: CloseReq = { pended: false, resolve, partyContext: undefined };
      vc.close = req;
      const st = this.handler(this.partyOf(vc, 'cm'), 'ProtocolCmCloseCall', vc, () =>
        vc.reg.handlers.cmCloseCall
          ? vc.reg.handlers.cmCloseCall(vc.ctx.cm, undefined, closeData)
          : NDIS_STATUS_SUCCESS,
      );
      let final = st;
      if (st === NDIS_STATUS_PENDING) req.pended = true;
      else final = this.finishClose(vc, st, req);
      const r = this.ret('Client', final, vc);
      if (sendsOut > 0) {
        this.verifier.flag(
          ruleCode(31),
          `${name} with ${sendsOut} send(s) still in the miniport`,
          this.snap(vc),
        );
      }
      return r;
    });
  }

  /** Promise form of clCloseCall. */
  clCloseCallAsync(vcHandle: NdisVcHandle, closeData?: Uint8Array): Promise<NdisStatus> {
    return this.arm(() => this.clCloseCall(vcHandle, undefined, closeData));
  }

  /** NdisCmCloseCallComplete: SUCCESS only once the VC's deactivation has completed (E34, spec §5 C1). */
  cmCloseCallComplete(status: NdisStatus, vcHandle: NdisVcHandle, ndisPartyHandle?: unknown): void {
    void ndisPartyHandle;
    this.closeCallComplete(status, vcHandle, 'NdisCmCloseCallComplete', false);
  }

  /** NdisMCmCloseCallComplete */
  mCmCloseCallComplete(status: NdisStatus, vcHandle: NdisVcHandle, ndisPartyHandle?: unknown): void {
    void ndisPartyHandle;
    this.closeCallComplete(status, vcHandle, 'NdisMCmCloseCallComplete', true);
  }

  private closeCallComplete(status: NdisStatus, vcHandle: NdisVcHandle, name: string, mcm: boolean): void {
    const vc = this.vcOf(vcHandle, name, 'cm');
    if (!vc) return;
    this.tr('complete-call', this.partyOf(vc, 'cm'), 'NDIS', name, vc, status);
    if (vc.mcm !== mcm) this.wrongVariant(vc, name);
    if (status === NDIS_STATUS_PENDING) {
      this.verifier.flag(ruleCode(19), `${name} with PENDING`, this.snap(vc));
      return;
    }
    vc.mailbox.post(() => {
      const req = vc.close;
      if (!req?.pended)
        return this.verifier.flag(
          ruleCode(20),
          `${name} without a pended ProtocolCmCloseCall`,
          this.snap(vc),
        );
      if (status === NDIS_STATUS_SUCCESS && vc.a === 'DEACTIVATING') {
        // E34: hold the close completion until the deactivation has completed.
        vc.close = undefined;
        vc.heldClose = { status, req };
        return this.verifier.flag(
          ruleCode(34),
          `${name}(SUCCESS) while the deactivation is pending`,
          this.snap(vc),
        );
      }
      this.finishClose(vc, status, req);
    });
  }

  private finishClose(vc: VcRec, status: NdisStatus, req: CloseReq): NdisStatus {
    if (vc.close === req) vc.close = undefined;
    const inactive = vc.a === 'INACTIVE';
    this.applyC(vc, status === NDIS_STATUS_SUCCESS ? 'CLOSE_OK' : 'CLOSE_FAIL');
    if (status === NDIS_STATUS_SUCCESS && vc.creator !== 'client') vc.clientDetached = true;
    if (req.pended) {
      this.deliver(() => {
        this.tr('deliver', 'NDIS', 'Client', 'ProtocolClCloseCallComplete', vc, status);
        vc.af?.clientHandlers.clCloseCallComplete?.(status, vc.ctx.client, req.partyContext);
        req.resolve?.(status);
      }, vc);
    }
    if (status === NDIS_STATUS_SUCCESS && !inactive) {
      this.verifier.flag(
        ruleCode(34),
        'close completed with SUCCESS on a VC that is not inactive',
        this.snap(vc),
      );
    }
    return status;
  }

  /**
   * NdisCmDispatchIncomingCloseCall: remote hang-up, network failure, or unacceptable client
   * parameters. Calls ProtocolClIncomingCloseCall; changes nothing on the activation axis (E35).
   * On a client-created VC a failure CloseStatus means the client must delete the VC (E36).
   */
  cmDispatchIncomingCloseCall(closeStatus: NdisStatus, vcHandle: NdisVcHandle, closeData?: Uint8Array): void {
    this.dispatchIncomingClose(closeStatus, vcHandle, closeData, 'NdisCmDispatchIncomingCloseCall', false);
  }

  /** NdisMCmDispatchIncomingCloseCall */
  mCmDispatchIncomingCloseCall(
    closeStatus: NdisStatus,
    vcHandle: NdisVcHandle,
    closeData?: Uint8Array,
  ): void {
    this.dispatchIncomingClose(closeStatus, vcHandle, closeData, 'NdisMCmDispatchIncomingCloseCall', true);
  }

  private dispatchIncomingClose(
    closeStatus: NdisStatus,
    vcHandle: NdisVcHandle,
    closeData: Uint8Array | undefined,
    name: string,
    mcm: boolean,
  ): void {
    const vc = this.vcOf(vcHandle, name, 'cm');
    if (!vc) return;
    this.tr('call', this.partyOf(vc, 'cm'), 'NDIS', name, vc, closeStatus);
    if (vc.mcm !== mcm) this.wrongVariant(vc, name);
    vc.mailbox.hold(() => {
      const out = callTransition(vc.c, 'INCOMING_CLOSE');
      if (!out || out.refuse !== undefined) return void this.badTransition(vc, 'INCOMING_CLOSE', name);
      this.setC(vc, out.next);
      if (vc.creator === 'client' && closeStatus !== NDIS_STATUS_SUCCESS) vc.mustDelete = true;
      this.handler('Client', 'ProtocolClIncomingCloseCall', vc, () => {
        vc.af?.clientHandlers.clIncomingCloseCall?.(closeStatus, vc.ctx.client, closeData);
        return undefined;
      });
    });
  }

  // ---------------------------------------------------------------------------------------------
  // H. QoS

  /**
   * NdisClModifyCallQoS: on a connected call, or on an offered call before answering it (E27).
   * NDIS calls ProtocolCmModifyCallQoS; PENDING ends in ProtocolClModifyCallQoSComplete. One at a time.
   */
  clModifyCallQoS(vcHandle: NdisVcHandle, callParameters: CoCallParameters): NdisStatus {
    const name = 'NdisClModifyCallQoS';
    const resolve = this.takeArmed();
    const vc = this.vcOf(vcHandle, name, 'client');
    if (!vc) return NDIS_STATUS_INVALID_PARAMETER;
    this.tr('call', 'Client', 'NDIS', name, vc);
    if (vc.clientDetached) return this.detached(vc, name);
    return vc.mailbox.hold(() => {
      if (vc.qos) return this.ret('Client', NDIS_STATUS_NOT_ACCEPTED, vc);
      const out = this.callOutcome(vc, 'MODIFY_QOS', name);
      if (out !== undefined) return this.ret('Client', out, vc);
      const req: QosReq = {
        params: callParameters,
        pended: false,
        resolve,
        activationsAtStart: vc.activationsOk,
      };
      vc.qos = req;
      const st = this.handler(this.partyOf(vc, 'cm'), 'ProtocolCmModifyCallQoS', vc, () =>
        vc.reg.handlers.cmModifyCallQoS
          ? vc.reg.handlers.cmModifyCallQoS(vc.ctx.cm, callParameters)
          : NDIS_STATUS_NOT_SUPPORTED,
      );
      if (st === NDIS_STATUS_PENDING) {
        req.pended = true;
        return this.ret('Client', st, vc);
      }
      return this.ret('Client', this.finishQos(vc, st, undefined), vc);
    });
  }

  /** Promise form of clModifyCallQoS. */
  clModifyCallQoSAsync(vcHandle: NdisVcHandle, callParameters: CoCallParameters): Promise<NdisStatus> {
    return this.arm(() => this.clModifyCallQoS(vcHandle, callParameters));
  }

  /** NdisCmModifyCallQoSComplete: SUCCESS must follow a successful re-activation (E63). */
  cmModifyCallQoSComplete(
    status: NdisStatus,
    vcHandle: NdisVcHandle,
    callParameters?: CoCallParameters,
  ): void {
    this.modifyQosComplete(status, vcHandle, callParameters, 'NdisCmModifyCallQoSComplete', false);
  }

  /** NdisMCmModifyCallQoSComplete */
  mCmModifyCallQoSComplete(
    status: NdisStatus,
    vcHandle: NdisVcHandle,
    callParameters?: CoCallParameters,
  ): void {
    this.modifyQosComplete(status, vcHandle, callParameters, 'NdisMCmModifyCallQoSComplete', true);
  }

  private modifyQosComplete(
    status: NdisStatus,
    vcHandle: NdisVcHandle,
    params: CoCallParameters | undefined,
    name: string,
    mcm: boolean,
  ): void {
    const vc = this.vcOf(vcHandle, name, 'cm');
    if (!vc) return;
    this.tr('complete-call', this.partyOf(vc, 'cm'), 'NDIS', name, vc, status);
    if (vc.mcm !== mcm) this.wrongVariant(vc, name);
    if (status === NDIS_STATUS_PENDING) {
      this.verifier.flag(ruleCode(19), `${name} with PENDING`, this.snap(vc));
      return;
    }
    vc.mailbox.post(() => {
      if (!vc.qos?.pended)
        return this.verifier.flag(ruleCode(20), `${name} without a pended QoS change`, this.snap(vc));
      this.finishQos(vc, status, params);
    });
  }

  private finishQos(vc: VcRec, status: NdisStatus, params: CoCallParameters | undefined): NdisStatus {
    const req = vc.qos!;
    vc.qos = undefined;
    if (params && params !== req.params) Object.assign(req.params, params);
    const out = callTransition(vc.c, 'MODIFY_QOS_DONE');
    if (out && out.refuse === undefined) this.setC(vc, out.next);
    const unactivated = status === NDIS_STATUS_SUCCESS && vc.activationsOk === req.activationsAtStart;
    if (req.pended) {
      this.deliver(() => {
        this.tr('deliver', 'NDIS', 'Client', 'ProtocolClModifyCallQoSComplete', vc, status);
        vc.af?.clientHandlers.clModifyCallQoSComplete?.(status, vc.ctx.client, req.params);
        req.resolve?.(status);
      }, vc);
    }
    if (unactivated) {
      this.verifier.flag(
        ruleCode(63),
        'QoS change completed with SUCCESS without a successful re-activation',
        this.snap(vc),
      );
    }
    return status;
  }

  /**
   * NdisCmDispatchIncomingCallQoSChange: only after the miniport accepted the new parameters, i.e.
   * the VC's last successful activation carried this very parameter set (E64).
   */
  cmDispatchIncomingCallQoSChange(vcHandle: NdisVcHandle, callParameters: CoCallParameters): void {
    this.dispatchQosChange(vcHandle, callParameters, 'NdisCmDispatchIncomingCallQoSChange', false);
  }

  /** NdisMCmDispatchIncomingCallQoSChange */
  mCmDispatchIncomingCallQoSChange(vcHandle: NdisVcHandle, callParameters: CoCallParameters): void {
    this.dispatchQosChange(vcHandle, callParameters, 'NdisMCmDispatchIncomingCallQoSChange', true);
  }

  private dispatchQosChange(
    vcHandle: NdisVcHandle,
    params: CoCallParameters,
    name: string,
    mcm: boolean,
  ): void {
    const vc = this.vcOf(vcHandle, name, 'cm');
    if (!vc) return;
    this.tr('call', this.partyOf(vc, 'cm'), 'NDIS', name, vc);
    if (vc.mcm !== mcm) this.wrongVariant(vc, name);
    vc.mailbox.hold(() => {
      const out = callTransition(vc.c, 'QOS_CHANGE_INDICATED');
      if (!out || out.refuse !== undefined) return void this.badTransition(vc, 'QOS_CHANGE_INDICATED', name);
      if (vc.a !== 'ACTIVE' || vc.lastActivated !== params) {
        return this.verifier.flag(
          ruleCode(64),
          `${name} before the miniport accepted these parameters`,
          this.snap(vc),
        );
      }
      this.setC(vc, out.next);
      this.handler('Client', 'ProtocolClIncomingCallQoSChange', vc, () => {
        vc.af?.clientHandlers.clIncomingCallQoSChange?.(vc.ctx.client, params);
        return undefined;
      });
    });
  }

  // ---------------------------------------------------------------------------------------------
  // I. Data path

  /**
   * NdisCoSendNetBufferLists: the client on a call VC, or the CM on its signalling VC. Always
   * asynchronous: every NBL comes back exactly once through ProtocolCoSendNetBufferListsComplete,
   * never inside this call. Under 'strict-core' NDIS completes the NBLs itself (§4.3: VC_NOT_ACTIVATED,
   * CLOSING, RESET_IN_PROGRESS) when the VC is not ready; otherwise it hands the list, in order, to
   * MiniportCoSendNetBufferLists and counts it in the VC's drain. Each NBL's sourceHandle must be
   * the VC's handle (E61). Hot path: no allocation.
   */
  coSendNetBufferLists(vcHandle: NdisVcHandle, nbls: NetBufferList, sendFlags: number): void {
    const o = this.observer;
    if (o !== undefined) o.onSend?.(vcHandle, nbls);
    const name = 'NdisCoSendNetBufferLists';
    const vc = this.vcOf(vcHandle, name, undefined, true)!;
    const role = roleOf(vcHandle);
    let n = 0;
    for (let p: NetBufferList | null = nbls; p; p = p.next) {
      if (p.ndisOwner !== NblOwner.Owner) {
        this.verifier.flag(ruleCode(59), `${name}: an NBL NDIS still holds was sent again`, this.snap(vc));
      }
      if (slotOf(p.sourceHandle) !== vc.slot) {
        this.verifier.flag(ruleCode(61), `${name}: NBL SourceHandle is not the VC's handle`, this.snap(vc));
      }
      n++;
    }
    if (this.trace) this.tr('call', this.partyOf(vc, role), 'NDIS', name, vc, undefined, `n=${n}`);
    let verdict = sendVerdict(this.sendPolicy, vc.a, vc.c, vc.signalling, vc.miniport.resetting);
    if (role !== vc.dataRole || (role === 'client' && vc.clientDetached)) {
      verdict = NDIS_STATUS_VC_NOT_ACTIVATED;
      const detached = role === 'client' && vc.clientDetached;
      this.verifier.flag(
        detached ? ruleCode(37) : CondisErrorCode.WRONG_CALLER,
        detached
          ? `${name} on a CM-created VC after the close completed`
          : `${name} by the ${role} on this VC`,
        this.snap(vc),
      );
    }
    if (verdict === NDIS_STATUS_SUCCESS) {
      if (this.sendPolicy === 'pass-through') vc.drain.forceAcquireTx(n);
      else if (!vc.drain.tryAcquireTx(n)) verdict = NDIS_STATUS_CLOSING;
    }
    if (verdict !== NDIS_STATUS_SUCCESS) {
      for (let p: NetBufferList | null = nbls; p; p = p.next) p.status = verdict;
      this.enqueue(Q_SEND_COMPLETE, vc, nbls, 0);
      return;
    }
    for (let p: NetBufferList | null = nbls; p; p = p.next) p.ndisOwner = NblOwner.InMiniport;
    if (this.trace)
      this.tr(
        'handler',
        'NDIS',
        this.partyOf(vc, 'miniport'),
        'MiniportCoSendNetBufferLists',
        vc,
        undefined,
        `n=${n}`,
      );
    vc.miniport.handlers.coSendNetBufferLists(vc.ctx.miniport, nbls, sendFlags);
  }

  /**
   * NdisMCoSendNetBufferListsComplete: the miniport hands sends back (any grouping, any order,
   * E60). Each NBL is routed by its sourceHandle (E61) to the sender's
   * ProtocolCoSendNetBufferListsComplete, in a later turn; a second completion of the same NBL is
   * E59 and is dropped. The last completion of a deactivating VC may complete the deactivation.
   */
  mCoSendNetBufferListsComplete(
    vcHandle: NdisVcHandle,
    nbls: NetBufferList,
    sendCompleteFlags: number,
  ): void {
    const name = 'NdisMCoSendNetBufferListsComplete';
    const vc = this.vcOf(vcHandle, name, undefined, true)!;
    // Fast path, the normal case: a prefix of NBLs that NDIS handed to the miniport and that all
    // carry the first one's SourceHandle is one run, taken in a single pass without relinking
    // (a deactivation's drain completes up to a queue's worth of NBLs here at once).
    let head: NetBufferList | null = nbls;
    const h0 = nbls.sourceHandle;
    const vc0 = this.vcBySource(h0);
    if (vc0) {
      let n = 0;
      let last: NetBufferList | null = null;
      let p: NetBufferList | null = nbls;
      while (p !== null && p.ndisOwner === NblOwner.InMiniport && p.sourceHandle === h0) {
        p.ndisOwner = NblOwner.Owner;
        n++;
        last = p;
        p = p.next;
      }
      if (last !== null) {
        last.next = null; // cut here: what follows (anything unusual) takes the general path
        this.completeSendRun(vc0, nbls, n, sendCompleteFlags);
        head = p;
      }
    }
    // General path: split the rest into runs of one VC each, dropping NBLs that break E59/E61.
    while (head) {
      let runVc = this.vcBySource(head.sourceHandle);
      if (!runVc) {
        this.verifier.flag(ruleCode(61), `${name}: NBL SourceHandle names no live VC`, this.snap(vc));
        runVc = vc;
      }
      let n = 0;
      let runHead: NetBufferList | null = null;
      let runTail: NetBufferList | null = null;
      let p: NetBufferList | null = head;
      while (p && (p === head || this.vcBySource(p.sourceHandle) === runVc)) {
        const next: NetBufferList | null = p.next;
        if (p.ndisOwner !== NblOwner.InMiniport) {
          this.verifier.flag(ruleCode(59), `${name}: NBL completed twice or never sent`, this.snap(runVc));
        } else {
          p.ndisOwner = NblOwner.Owner;
          p.next = null;
          if (runTail) runTail.next = p;
          else runHead = p;
          runTail = p;
          n++;
        }
        p = next;
      }
      head = p;
      if (runHead) this.completeSendRun(runVc, runHead, n, sendCompleteFlags);
    }
  }

  /** One VC's run of `n` completed NBLs: to its sender in a later turn, then out of the drain. */
  private completeSendRun(vc: VcRec, head: NetBufferList, n: number, flags: number): void {
    if (this.trace)
      this.tr(
        'complete-call',
        this.partyOf(vc, 'miniport'),
        'NDIS',
        'NdisMCoSendNetBufferListsComplete',
        vc,
        undefined,
        `n=${n}`,
      );
    // Delivery is queued before the drain is released, so the sender sees its completions before
    // the CM sees the deactivation complete (E46).
    this.enqueue(Q_SEND_COMPLETE, vc, head, flags);
    vc.drain.releaseTx(n);
  }

  /**
   * NdisMCoIndicateReceiveNetBufferLists: receives on a VC, for the protocol that shares it.
   * Without NDIS_RECEIVE_FLAGS_RESOURCES the NBLs count in the drain until returned; with it they
   * are the miniport's again when this returns and never count (E45). On a VC that is not active
   * (E48) or whose call does not carry data yet (U5), NDIS gives the NBLs straight back to
   * MiniportReturnNetBufferLists without involving the protocol.
   */
  mCoIndicateReceiveNetBufferLists(
    vcHandle: NdisVcHandle,
    nbls: NetBufferList,
    numberOfNbls: number,
    coReceiveFlags: number,
  ): void {
    const o = this.observer;
    if (o !== undefined) o.onIndicate?.(vcHandle, nbls);
    const name = 'NdisMCoIndicateReceiveNetBufferLists';
    const vc = this.vcOf(vcHandle, name, undefined, true)!;
    const resources = (coReceiveFlags & NDIS_RECEIVE_FLAGS_RESOURCES) !== 0;
    let n = 0;
    for (let p: NetBufferList | null = nbls; p; p = p.next) {
      if (p.sourceHandle === 0) p.sourceHandle = vcHandle;
      else if (slotOf(p.sourceHandle) !== vc.slot) {
        this.verifier.flag(ruleCode(61), `${name}: NBL SourceHandle is not the VC's handle`, this.snap(vc));
      }
      if (p.ndisOwner !== NblOwner.Owner) {
        this.verifier.flag(
          ruleCode(62),
          `${name}: an NBL the protocol still holds was indicated again`,
          this.snap(vc),
        );
      }
      if (!resources) p.ndisOwner = NblOwner.HeldByProtocol;
      n++;
    }
    void numberOfNbls;
    if (this.trace)
      this.tr(
        'call',
        this.partyOf(vc, 'miniport'),
        'NDIS',
        name,
        vc,
        undefined,
        `n=${n}${resources ? ' RESOURCES' : ''}`,
      );
    if (!resources) vc.drain.acquireRx(n);
    const activeEnough = vc.a === 'ACTIVE' || vc.a === 'REACTIVATING' || vc.a === 'DEACTIVATING';
    const callCarriesData =
      vc.signalling ||
      (!vc.clientDetached && (vc.c === 'ACCEPTED' || vc.c === 'CONNECTED' || vc.c === 'MODIFYING'));
    if (activeEnough && callCarriesData) {
      const b = vc.dataBinding;
      const role = vc.dataRole;
      if (this.trace)
        this.tr(
          'handler',
          'NDIS',
          this.partyOf(vc, role),
          'ProtocolCoReceiveNetBufferLists',
          vc,
          undefined,
          `n=${n}`,
        );
      b.protocol.handlers.coReceiveNetBufferLists(b.bindingContext, vc.ctx[role], nbls, n, coReceiveFlags);
      return;
    }
    // Not delivered: straight back to the miniport (in a later turn, never re-entrantly).
    if (!resources) this.enqueue(Q_RETURN_TO_MINIPORT, vc, nbls, 0);
    if (!activeEnough) this.verifier.flag(ruleCode(48), `${name} on a VC that is ${vc.a}`, this.snap(vc));
  }

  /**
   * NdisReturnNetBufferLists: a protocol gives back received NBLs (any grouping, mixing
   * indications and VCs, E62). Each NBL releases one unit of its VC's rxHeld before NDIS calls
   * MiniportReturnNetBufferLists with the list; the last return of a deactivating VC may complete
   * the deactivation (E44).
   */
  returnNetBufferLists(binding: NdisBindingHandle, nbls: NetBufferList, returnFlags: number): void {
    const name = 'NdisReturnNetBufferLists';
    const b = this.need(this.bindings.get(binding), name);
    let head: NetBufferList | null = null;
    let tail: NetBufferList | null = null;
    let n = 0;
    // One pass. The list is only relinked around NBLs the verifier drops (normally none), and a
    // run of NBLs with the same SourceHandle (normally the whole list) costs one VC lookup and
    // one drain release.
    let runHandle = -1;
    let runVc: VcRec | undefined;
    let runN = 0;
    for (let p: NetBufferList | null = nbls; p; ) {
      const next: NetBufferList | null = p.next;
      const h = p.sourceHandle;
      const vc = h === runHandle ? runVc : this.vcBySource(h);
      if (p.ndisOwner !== NblOwner.HeldByProtocol || !vc) {
        this.verifier.flag(
          ruleCode(62),
          `${name}: an NBL that was not indicated (or returned twice)`,
          vc && this.snap(vc),
        );
      } else {
        p.ndisOwner = NblOwner.Owner;
        if (tail === null) head = p;
        else if (tail.next !== p) tail.next = p;
        tail = p;
        n++;
        if (vc !== runVc) {
          if (runVc !== undefined) runVc.drain.releaseRxDeferred(runN);
          runVc = vc;
          runN = 0;
          if (!vc.touched) {
            vc.touched = true;
            this.touched.push(vc);
          }
        }
        runHandle = h;
        runN++;
      }
      p = next;
    }
    if (runVc !== undefined) runVc.drain.releaseRxDeferred(runN);
    if (tail !== null) tail.next = null;
    if (!head) {
      this.pollTouched();
      return;
    }
    if (this.trace) {
      this.tr(
        'call',
        b.cmAfs.length ? 'CallManager' : 'Client',
        'NDIS',
        name,
        undefined,
        undefined,
        `n=${n}`,
      );
      this.tr(
        'handler',
        'NDIS',
        b.miniport.isMcm ? 'MCM' : 'Miniport',
        'MiniportReturnNetBufferLists',
        undefined,
        undefined,
        `n=${n}`,
      );
    }
    try {
      b.miniport.handlers.returnNetBufferLists(b.miniport.adapterContext, head, returnFlags);
    } finally {
      this.pollTouched();
    }
  }

  /** Let each VC a return touched complete its stop, now that the miniport has its NBLs back. */
  private pollTouched(): void {
    const t = this.touched;
    for (let i = 0; i < t.length; i++) {
      const vc = t[i]!;
      vc.touched = false;
      vc.drain.poll();
    }
    t.length = 0;
  }

  /**
   * NdisMIndicateStatusEx for RESET_START / RESET_END (spec §1.2-J, E65): between the two, NDIS
   * completes every protocol send with RESET_IN_PROGRESS; handles stay valid. Bound protocols see
   * the status through ProtocolCoStatusEx.
   */
  mIndicateStatus(miniport: NdisMiniportHandle, status: NdisStatus): void {
    const mp = this.need(this.miniports.get(miniport), 'NdisMIndicateStatusEx');
    this.tr('call', mp.isMcm ? 'MCM' : 'Miniport', 'NDIS', 'NdisMIndicateStatusEx', undefined, status);
    if (status === NDIS_STATUS_RESET_START) mp.resetting = true;
    else if (status === NDIS_STATUS_RESET_END) mp.resetting = false;
    for (const b of mp.bindings) {
      this.tr(
        'handler',
        'NDIS',
        b.cmAfs.length ? 'CallManager' : 'Client',
        'ProtocolCoStatusEx',
        undefined,
        status,
      );
      b.protocol.handlers.coStatusEx?.(b.bindingContext, undefined, status);
    }
  }

  // ---------------------------------------------------------------------------------------------
  // Introspection

  /** States and counters of a VC (undefined for a stale handle). */
  vcInfo(vcHandle: NdisVcHandle): VcInfo | undefined {
    const vc = this.vcBySource(vcHandle);
    if (!vc) return undefined;
    return {
      slot: vc.slot,
      activation: vc.a,
      call: vc.c,
      txInMiniport: vc.drain.txInMiniport,
      rxHeld: vc.drain.rxHeld,
      stopping: vc.drain.stopping,
      creator: vc.creator,
      mcm: vc.mcm,
      signalling: vc.signalling,
      callParameters: vc.params,
      activationPending: vc.act !== undefined,
      deactivationPending: vc.deact !== undefined,
    };
  }

  /** Number of live VCs (an MCM's internal signalling channels are never among them: E67). */
  get vcCount(): number {
    return this.liveVcs;
  }

  /** Deliveries queued and not yet run. */
  get pendingDeliveries(): number {
    return (this.queue.length - this.queueHead) / 4;
  }

  // ---------------------------------------------------------------------------------------------
  // Internals: handles

  private allocVc(
    creator: 'client' | 'cm',
    mcm: boolean,
    mp: MiniportRec,
    reg: AfRegistration,
    af: AfRec | undefined,
  ): VcRec {
    let slot = this.freeSlots.pop();
    if (slot === undefined) {
      slot = this.vcs.length;
      if (slot >= SLOTS) throw new CondisError(CondisErrorCode.REGISTRATION, 'VC table full');
      this.vcs.push(undefined);
      this.gens.push(0);
    }
    const gen = (this.gens[slot] ?? 0) + 1;
    this.gens[slot] = gen;
    const vc: VcRec = new VcRec(slot, gen, creator, mcm, mp, reg, af, () => this.onDrained(vc));
    this.vcs[slot] = vc;
    this.liveVcs++;
    if (this.trace) this.tr('state', 'NDIS', 'NDIS', 'state', vc);
    return vc;
  }

  private freeVc(vc: VcRec): void {
    if (this.vcs[vc.slot] !== vc) return;
    this.vcs[vc.slot] = undefined;
    this.freeSlots.push(vc.slot);
    this.liveVcs--;
  }

  private handleOf(vc: VcRec, role: Role): NdisVcHandle {
    return ((vc.gen * SLOTS + vc.slot) * 4 + ROLE_CODE[role]) as NdisVcHandle;
  }

  /** The live VC a handle or SourceHandle names (any role), or undefined. */
  private vcBySource(h: number): VcRec | undefined {
    const vc = this.vcs[slotOf(h)];
    return vc && vc.gen === genOf(h) ? vc : undefined;
  }

  /**
   * Resolve a VC handle. A stale handle (deleted VC, even with its slot reused) is E58: thrown in
   * 'throw' mode, and on the data path always (there is nobody to complete the NBLs to).
   */
  private vcOf(h: NdisVcHandle, name: string, role?: Role, alwaysThrow = false): VcRec | undefined {
    const vc = this.vcBySource(h);
    if (!vc) {
      this.tr('note', 'NDIS', 'NDIS', 'stale handle', undefined, undefined, name);
      const e = this.verifier.report(ruleCode(58), `${name}: stale or unknown VC handle 0x${h.toString(16)}`);
      if (alwaysThrow || this.verifier.mode === 'throw')
        throw e ?? new CondisError(ruleCode(58), `${name}: stale or unknown VC handle`);
      return undefined;
    }
    if (role && roleOf(h) !== role && !(vc.mcm && role === 'cm' && roleOf(h) === 'miniport')) {
      this.verifier.flag(
        CondisErrorCode.WRONG_CALLER,
        `${name} called with the ${roleOf(h)}'s handle`,
        this.snap(vc),
      );
    }
    return vc;
  }

  private need<T>(x: T | undefined, name: string): T {
    if (x === undefined) throw new CondisError(CondisErrorCode.INVALID_HANDLE, `${name}: unknown handle`);
    return x;
  }

  private snap(vc: VcRec): VcSnapshot {
    return {
      handle: this.handleOf(vc, vc.creator),
      slot: vc.slot,
      activation: vc.a,
      call: vc.c,
      txInMiniport: vc.drain.txInMiniport,
      rxHeld: vc.drain.rxHeld,
      stopping: vc.drain.stopping,
    };
  }

  private partyOf(vc: VcRec, role: Role): Party {
    if (role === 'client') return 'Client';
    if (vc.mcm) return 'MCM';
    return role === 'cm' ? 'CallManager' : 'Miniport';
  }

  // ---------------------------------------------------------------------------------------------
  // Internals: state

  private setA(vc: VcRec, next: ActivationState): void {
    if (vc.a === next) return;
    vc.a = next;
    if (this.trace) this.tr('state', 'NDIS', 'NDIS', 'state', vc);
  }

  private setC(vc: VcRec, next: CallState): void {
    if (vc.c === next) return;
    vc.c = next;
    if (this.trace) this.tr('state', 'NDIS', 'NDIS', 'state', vc);
  }

  /** Apply an activation event that must be in the table, running its bookkeeping effects. */
  private applyA(vc: VcRec, event: ActivationEvent, params?: CoCallParameters): void {
    const out = activationTransition(vc.a, event);
    if (!out || out.refuse !== undefined) {
      this.badTransition(vc, event, 'internal');
      return;
    }
    for (const e of out.effects) {
      if (e === 'stopSends') vc.drain.beginStop();
      else if (e === 'resumeSends') vc.drain.resume();
      else if (e === 'adoptParameters' && params) {
        vc.params = params;
        vc.lastActivated = params;
        vc.activationsOk++;
      } else if (e === 'voidParameters') {
        vc.voidedParams = vc.params;
        vc.params = undefined;
      }
    }
    this.setA(vc, out.next);
  }

  private applyC(vc: VcRec, event: CallEvent): void {
    const out = callTransition(vc.c, event);
    if (!out || out.refuse !== undefined) {
      this.badTransition(vc, event, 'internal');
      return;
    }
    this.setC(vc, out.next);
  }

  /** Run a client request's call-axis transition: undefined if applied, else the refusal status. */
  private callOutcome(vc: VcRec, event: CallEvent, name: string): NdisStatus | undefined {
    const out = callTransition(vc.c, event);
    if (!out) return this.badTransition(vc, event, name);
    if (out.refuse !== undefined) return out.refuse;
    this.setC(vc, out.next);
    return undefined;
  }

  private badTransition(vc: VcRec, event: string, name: string): NdisStatus {
    this.verifier.flag(
      CondisErrorCode.BAD_TRANSITION,
      `${name}: event ${event} has no transition from A=${vc.a} C=${vc.c}`,
      this.snap(vc),
    );
    return NDIS_STATUS_NOT_ACCEPTED;
  }

  private wrongVariant(vc: VcRec, name: string): void {
    this.verifier.flag(
      CondisErrorCode.WRONG_VARIANT,
      vc.mcm
        ? `${name} on an MCM VC (use the NdisMCm* variant)`
        : `${name} on a stand-alone VC (NdisMCm* is for MCMs)`,
      this.snap(vc),
    );
  }

  private detached(vc: VcRec, name: string): NdisStatus {
    this.ret('Client', NDIS_STATUS_NOT_ACCEPTED, vc);
    this.verifier.flag(ruleCode(37), `${name} on a CM-created VC after its close completed`, this.snap(vc));
    return NDIS_STATUS_NOT_ACCEPTED;
  }

  // ---------------------------------------------------------------------------------------------
  // Internals: handler calls

  /** Invoke a handler that returns a status (or nothing), tracing the call and its return. */
  private handler(
    to: Party,
    name: string,
    vc: VcRec | undefined,
    fn: () => NdisStatus | undefined,
  ): NdisStatus {
    this.tr('handler', 'NDIS', to, name, vc);
    const st = fn();
    if (st === undefined) return NDIS_STATUS_SUCCESS;
    if (typeof st !== 'number') {
      throw new CondisError(CondisErrorCode.BAD_RETURN, `${name} returned ${String(st)}, not an NDIS_STATUS`);
    }
    this.tr('handler-return', to, 'NDIS', name, vc, st);
    return st;
  }

  /** Invoke an open/register handler that may return a context. */
  private handlerCtx(to: Party, name: string, fn: () => ContextResult): ContextResult {
    this.tr('handler', 'NDIS', to, name);
    const r = fn();
    this.tr('handler-return', to, 'NDIS', name, undefined, splitResult(r).status);
    return r;
  }

  /** A create handler: may not pend (E7). Stores the returned context. */
  private callCreate(vc: VcRec, role: Role, name: string, fn: () => ContextResult): NdisStatus {
    const to = this.partyOf(vc, role);
    this.tr('handler', 'NDIS', to, name, vc);
    const { status, context } = splitResult(fn());
    this.tr('handler-return', to, 'NDIS', name, vc, status);
    if (status === NDIS_STATUS_SUCCESS) vc.ctx[role] = context ?? this.handleOf(vc, role);
    if (status === NDIS_STATUS_PENDING) {
      this.fatal ??= this.verifier.report(
        ruleCode(7),
        `${name} returned NDIS_STATUS_PENDING (fatal)`,
        this.snap(vc),
      );
      return NDIS_STATUS_FAILURE;
    }
    return status;
  }

  /** A delete handler: may not pend (E7); MiniportCoDeleteVc may not fail. */
  private callDelete(vc: VcRec, role: Role, name: string): NdisStatus {
    const st = this.handler(this.partyOf(vc, role), name, vc, () => {
      if (role === 'miniport') return vc.miniport.handlers.coDeleteVc?.(vc.ctx.miniport);
      if (role === 'cm') return vc.reg.handlers.coDeleteVc?.(vc.ctx.cm);
      return vc.af?.clientHandlers.coDeleteVc?.(vc.ctx.client);
    });
    if (st === NDIS_STATUS_PENDING) {
      this.fatal ??= this.verifier.report(
        ruleCode(7),
        `${name} returned NDIS_STATUS_PENDING (fatal)`,
        this.snap(vc),
      );
      return NDIS_STATUS_NOT_ACCEPTED;
    }
    if (role === 'miniport' && st !== NDIS_STATUS_SUCCESS) {
      this.fatal ??= this.verifier.report(
        CondisErrorCode.BAD_RETURN,
        `${name} may only return SUCCESS`,
        this.snap(vc),
      );
    }
    return st;
  }

  private raiseFatal(): void {
    const e = this.fatal;
    this.fatal = undefined;
    if (e && this.verifier.mode === 'throw') throw e;
  }

  // ---------------------------------------------------------------------------------------------
  // Internals: deliveries

  /** Queue `fn` for a later turn; `vc` names the VC it completes something on, if any. */
  /**
   * Real NDIS completes inside the call that finishes a request (ProtocolCmDeactivateVcComplete
   * inside the drain's last NdisMCoSendNetBufferListsComplete, ProtocolClCloseCallComplete inside
   * Ndis(M)CmCloseCallComplete); this one delivers completions in a later turn, so a VC's state can
   * run ahead of what its drivers have heard. Before NDIS takes a new activation, deactivation or
   * deletion of the VC it delivers what it has queued for it (and, to keep FIFO order, everything
   * queued before): no request overtakes a completion of the previous one (spec §2.5 I4), and no
   * completion reaches a driver for a VC after its deletion.
   */
  private catchUp(vc: VcRec): void {
    if (vc.queued > 0) this.flush();
  }

  private deliver(fn: () => void, vc?: VcRec): void {
    this.enqueue(Q_FN, fn, vc ?? null, 0);
  }

  private enqueue(kind: number, target: unknown, a: unknown, b: number): void {
    const vc = (kind === Q_FN ? a : target) as VcRec | null;
    if (vc) vc.queued++;
    this.queue.push(kind, target, a, b);
    if (!this.flushScheduled) {
      this.flushScheduled = true;
      this.scheduler.schedule(this.flushBound);
    }
  }

  /** Run queued deliveries in FIFO order, including those they queue. */
  private flush(): void {
    const q = this.queue;
    try {
      while (this.queueHead < q.length) {
        const i = this.queueHead;
        this.queueHead += 4;
        const kind = q[i] as number;
        const target = q[i + 1];
        const a = q[i + 2];
        // Cleared before the call: a delivery may flush the queue itself (catchUp), which empties it.
        q[i + 1] = q[i + 2] = undefined;
        const vc = (kind === Q_FN ? a : target) as VcRec | null;
        if (vc) vc.queued--;
        if (kind === Q_FN) (target as () => void)();
        else if (kind === Q_SEND_COMPLETE)
          this.deliverSendComplete(target as VcRec, a as NetBufferList, q[i + 3] as number);
        else this.deliverReturnToMiniport(target as VcRec, a as NetBufferList);
      }
    } finally {
      if (this.queueHead >= q.length) {
        q.length = 0;
        this.queueHead = 0;
        this.flushScheduled = false;
      } else {
        this.scheduler.schedule(this.flushBound); // a handler threw: keep going next turn
      }
    }
  }

  private deliverSendComplete(vc: VcRec, nbls: NetBufferList, flags: number): void {
    const role = vc.dataRole;
    const b = vc.dataBinding;
    if (this.trace)
      this.tr('deliver', 'NDIS', this.partyOf(vc, role), 'ProtocolCoSendNetBufferListsComplete', vc);
    b.protocol.handlers.coSendNetBufferListsComplete(vc.ctx[role], nbls, flags);
  }

  private deliverReturnToMiniport(vc: VcRec, nbls: NetBufferList): void {
    let n = 0;
    for (let p: NetBufferList | null = nbls; p; p = p.next) {
      p.ndisOwner = NblOwner.Owner;
      n++;
    }
    vc.drain.releaseRxDeferred(n);
    const mp = vc.miniport;
    if (this.trace)
      this.tr(
        'handler',
        'NDIS',
        this.partyOf(vc, 'miniport'),
        'MiniportReturnNetBufferLists',
        vc,
        undefined,
        `n=${n} dropped`,
      );
    try {
      mp.handlers.returnNetBufferLists(mp.adapterContext, nbls, 0);
    } finally {
      vc.drain.poll();
    }
  }

  // ---------------------------------------------------------------------------------------------
  // Internals: promises and trace

  private takeArmed(): ((s: NdisStatus) => void) | undefined {
    const r = this.armed;
    this.armed = undefined;
    return r;
  }

  private arm(fn: () => NdisStatus): Promise<NdisStatus> {
    return new Promise<NdisStatus>((resolve, reject) => {
      this.armed = resolve;
      try {
        const st = fn();
        if (st !== NDIS_STATUS_PENDING) resolve(st);
      } catch (e) {
        reject(e);
      } finally {
        this.armed = undefined;
      }
    });
  }

  private ret(to: Party, status: NdisStatus, vc?: VcRec): NdisStatus {
    if (this.trace) this.tr('return', 'NDIS', to, '', vc, status);
    return status;
  }

  private tr(
    kind: 'call' | 'complete-call' | 'return' | 'handler' | 'handler-return' | 'deliver' | 'state' | 'note',
    from: Party,
    to: Party,
    name: string,
    vc?: VcRec,
    status?: NdisStatus,
    detail?: string,
  ): void {
    const t = this.trace;
    if (!t) return;
    t.record({
      kind,
      from,
      to,
      name,
      ...(vc ? { vc: vc.slot, activation: vc.a, call: vc.c } : {}),
      ...(status !== undefined ? { status } : {}),
      ...(detail !== undefined ? { detail } : {}),
    });
  }
}

function splitResult(r: ContextResult): { status: NdisStatus; context: unknown } {
  if (typeof r === 'number') return { status: r, context: undefined };
  return r;
}

function slotOf(h: number): number {
  return Math.floor(h / 4) % SLOTS;
}
function genOf(h: number): number {
  return Math.floor(Math.floor(h / 4) / SLOTS);
}
function roleOf(h: number): Role {
  return ROLES[h % 4] ?? 'miniport';
}
