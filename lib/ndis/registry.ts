/**
 * The registry: what NDIS knows about its drivers and VCs, and nothing it does with them.
 * Records of the registered actors (miniports and MCMs, protocols, bindings, address families,
 * SAPs; spec §1.1), the VC table with its generation-checked handles (§1.2-A, E58), and the map
 * from a handle to the party that holds it (each party of a VC has its own NdisVcHandle, which is
 * how NDIS knows who calls: creator-only delete, client-only calls).
 *
 * Sits at the bottom of lib/ndis's core: every concern module (bindings, vc-lifecycle, calls,
 * data-path, delivery) reads these records; this file imports only types and the per-VC parts
 * (drain.ts, mailbox.ts).
 */

import type {
  AddressFamily,
  CallManagerHandlers,
  ClientHandlers,
  MiniportCoHandlers,
  NdisAfHandle,
  NdisBindingHandle,
  NdisMiniportHandle,
  NdisProtocolHandle,
  NdisSapHandle,
  NdisVcHandle,
  ProtocolCoHandlers,
} from './actors';
import type { CoCallParameters } from './call-parameters';
import type { TimerId } from './clock';
import { Drain } from './drain';
import { CondisErrorCode, ndisError } from './errors';
import { Mailbox } from './mailbox';
import type { NdisOffload } from './offload';
import type { NdisStatus } from './status';
import type { Party, Trace, TraceKind } from './trace';
import type { ActivationState, CallState } from './vc-states';

/** The three parties of a VC, each with its own handle. */
export type Role = 'client' | 'cm' | 'miniport';
const ROLE_CODE: Record<Role, number> = { miniport: 0, client: 1, cm: 2 };
const ROLES: readonly Role[] = ['miniport', 'client', 'cm'];
/** VC slots; a handle is ((generation * SLOTS + slot) * 4 + role). */
const SLOTS = 1 << 20;

export function slotOf(h: number): number {
  return Math.floor(h / 4) % SLOTS;
}
export function genOf(h: number): number {
  return Math.floor(Math.floor(h / 4) / SLOTS);
}
export function roleOf(h: number): Role {
  return ROLES[h % 4] ?? 'miniport';
}

export class MiniportRec {
  readonly bindings: BindingRec[] = [];
  readonly afs: AfRegistration[] = [];
  resetting = false;
  /**
   * NDIS_MINIPORT_ADAPTER_OFFLOAD_ATTRIBUTES: HardwareOffloadCapabilities and the current
   * configuration (DefaultOffloadConfiguration, then OID_TCP_OFFLOAD_PARAMETERS). Undefined: the
   * miniport advertised no offload (every LSO or checksum request is a verifier break).
   */
  offloadHardware: NdisOffload | undefined = undefined;
  offloadCurrent: NdisOffload | undefined = undefined;
  constructor(
    readonly handle: NdisMiniportHandle,
    readonly handlers: MiniportCoHandlers,
    readonly adapterContext: unknown,
    readonly isMcm: boolean,
  ) {}
}

export class ProtocolRec {
  constructor(
    readonly handle: NdisProtocolHandle,
    readonly handlers: ProtocolCoHandlers,
  ) {}
}

export class BindingRec {
  readonly cmAfs: AfRegistration[] = [];
  constructor(
    readonly handle: NdisBindingHandle,
    readonly protocol: ProtocolRec,
    readonly miniport: MiniportRec,
    readonly bindingContext: unknown,
  ) {}
}

/** A call manager's (or MCM's) registration of one address family. */
export class AfRegistration {
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
export class AfRec {
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

export class SapRec {
  state: 'registering' | 'open' | 'closing' | 'closed' = 'registering';
  cmSapContext: unknown;
  constructor(
    readonly handle: NdisSapHandle,
    readonly af: AfRec,
    readonly sap: unknown,
    readonly clientSapContext: unknown,
  ) {}
}

/** A request in flight on a VC: did it pend, and the xxxAsync resolver armed for it. */
export interface Req {
  pended: boolean;
  resolve: ((s: NdisStatus) => void) | undefined;
}
export interface ActReq extends Req {
  params: CoCallParameters;
}
export interface DeactReq extends Req {
  /** The miniport (or MCM) reported completion; NDIS still waits for the drain counter. */
  miniportDone: boolean;
  timer: TimerId | undefined;
}
export interface MakeReq extends Req {
  params: CoCallParameters;
}
export interface CloseReq extends Req {
  partyContext: unknown;
  /** Sends still in the miniport when the client closed (E31). */
  sendsAtClose: number;
}
export interface QosReq extends Req {
  params: CoCallParameters;
  activationsAtStart: number;
}
export interface OfferReq extends Req {
  params: CoCallParameters;
}

/** One VC: its two state axes (spec §2.1), drain, mailbox, the parties' contexts, its requests. */
export class VcRec {
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

/** The handle `role` holds for `vc`. */
export function handleOf(vc: VcRec, role: Role): NdisVcHandle {
  return ((vc.gen * SLOTS + vc.slot) * 4 + ROLE_CODE[role]) as NdisVcHandle;
}

/** How the trace names a role of this VC (an MCM plays both call manager and miniport). */
export function partyOf(vc: VcRec, role: Role): Party {
  if (role === 'client') return 'Client';
  if (vc.mcm) return 'MCM';
  return role === 'cm' ? 'CallManager' : 'Miniport';
}

/** Record one runtime event, with the VC's slot and states after it (callers test `trace` first). */
export function traceEvent(
  t: Trace,
  kind: TraceKind,
  from: Party,
  to: Party,
  name: string,
  vc?: VcRec,
  status?: NdisStatus,
  detail?: string,
): void {
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

/**
 * The VC table: slots reused through a free list, each with a generation, so a handle kept after
 * NdisCoDeleteVc is detected even when its slot is reused (E58).
 */
export class VcTable {
  private readonly vcs: Array<VcRec | undefined> = [undefined];
  private readonly gens: number[] = [0];
  private readonly freeSlots: number[] = [];
  /** Number of live VCs. */
  live = 0;

  alloc(
    creator: 'client' | 'cm',
    mcm: boolean,
    mp: MiniportRec,
    reg: AfRegistration,
    af: AfRec | undefined,
    onDrained: (vc: VcRec) => void,
  ): VcRec {
    let slot = this.freeSlots.pop();
    if (slot === undefined) {
      slot = this.vcs.length;
      if (slot >= SLOTS) throw ndisError(CondisErrorCode.REGISTRATION, 'VC table full');
      this.vcs.push(undefined);
      this.gens.push(0);
    }
    const gen = (this.gens[slot] ?? 0) + 1;
    this.gens[slot] = gen;
    const vc: VcRec = new VcRec(slot, gen, creator, mcm, mp, reg, af, () => onDrained(vc));
    this.vcs[slot] = vc;
    this.live++;
    return vc;
  }

  free(vc: VcRec): void {
    if (this.vcs[vc.slot] !== vc) return;
    this.vcs[vc.slot] = undefined;
    this.freeSlots.push(vc.slot);
    this.live--;
  }

  /** The live VC a handle or SourceHandle names (any role), or undefined. Hot path. */
  bySource(h: number): VcRec | undefined {
    const vc = this.vcs[slotOf(h)];
    return vc && vc.gen === genOf(h) ? vc : undefined;
  }

  /** The VC in `slot` whatever its generation (dispatchIncomingCallAsync picks the variant by it). */
  inSlot(slot: number): VcRec | undefined {
    return this.vcs[slot];
  }

  /** Whether a live VC matches `pred` (control path: halts and unbinds). */
  some(pred: (vc: VcRec) => boolean): boolean {
    return this.vcs.some((v) => v !== undefined && pred(v));
  }

  /** How many live VCs match `pred`. */
  count(pred: (vc: VcRec) => boolean): number {
    return this.vcs.filter((v) => v !== undefined && pred(v)).length;
  }
}
