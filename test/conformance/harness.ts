/**
 * Conformance harness: a client, a stand-alone call manager and a miniport (or a client and an
 * MCM) wired through one Ndis runtime, with recording handlers and a sync/async switch:
 * - 'sync': every handler returns its final status (callers self-complete);
 * - 'async': every handler that may pend returns PENDING and completes in a later turn.
 * Time and turns are manual (ManualClock, ManualScheduler); `settle()` runs turns until quiet.
 * Each simulated driver behaves like a well-written driver by default; tests change a knob or
 * replace a handler to break a rule.
 */
import {
  type CallManagerHandlers,
  type ClientHandlers,
  type CoCallParameters,
  chainNbls,
  ManualClock,
  ManualScheduler,
  type MiniportCoHandlers,
  makeCallParameters,
  makeNbl,
  NDIS_RECEIVE_FLAGS_RESOURCES,
  NDIS_STATUS_CLOSING,
  NDIS_STATUS_PENDING,
  NDIS_STATUS_SEND_ABORTED,
  NDIS_STATUS_SUCCESS,
  Ndis,
  type NdisAfHandle,
  type NdisBindingHandle,
  type NdisMiniportHandle,
  type NdisSapHandle,
  type NdisStatus,
  type NdisVcHandle,
  type NetBufferList,
  nblArray,
  type ProtocolCoHandlers,
  type SendPolicy,
  statusName,
  type VerifierMode,
} from '../../lib/ndis';

export type Mode = 'sync' | 'async';
export const MODES: Array<[Mode]> = [['sync'], ['async']];
/** Both handler modes, with a stand-alone call manager and with an MCM. */
export const MODES_AND_MCM: Array<[Mode, boolean]> = [
  ['sync', false],
  ['async', false],
  ['sync', true],
  ['async', true],
];

export const AF = 0x42;

export interface HarnessOptions {
  mode: Mode;
  mcm?: boolean;
  verifier?: VerifierMode;
  sendPolicy?: SendPolicy;
  deadlineMs?: number;
}

/** The three handles of one VC (each party has its own). */
export interface VcHandles {
  cl?: NdisVcHandle;
  cm?: NdisVcHandle;
  mp?: NdisVcHandle;
}

/** A miniport VC context is the miniport's handle; over an MCM it is the MCM's VcCtx. */
export function ctxHandle(ctx: unknown): NdisVcHandle {
  return typeof ctx === 'number' ? (ctx as NdisVcHandle) : (ctx as VcCtx).handle;
}

interface VcCtx {
  handle: NdisVcHandle;
  onActivated?: ((s: NdisStatus) => void) | undefined;
  onDeactivated?: ((s: NdisStatus) => void) | undefined;
}

export class Harness {
  readonly clock = new ManualClock();
  readonly sched = new ManualScheduler();
  readonly ndis: Ndis;
  readonly log: string[] = [];
  readonly mode: Mode;
  readonly mcm: boolean;
  /** Handles per VC slot. */
  readonly vcs = new Map<number, VcHandles>();

  readonly mp: MiniportSim;
  readonly cm: CmSim;
  readonly cl: ClientSim;
  readonly mpHandle: NdisMiniportHandle;
  readonly clBinding: NdisBindingHandle;
  readonly cmBinding: NdisBindingHandle | undefined;
  afHandle!: NdisAfHandle;
  /** The AF handle as the call manager got it in ProtocolCmOpenAf. */
  cmAfHandle!: NdisAfHandle;
  sapHandle!: NdisSapHandle;

  constructor(opts: HarnessOptions) {
    this.mode = opts.mode;
    this.mcm = opts.mcm ?? false;
    this.ndis = new Ndis({
      clock: this.clock,
      scheduler: this.sched,
      verifier: opts.verifier ?? 'throw',
      sendPolicy: opts.sendPolicy ?? 'strict-core',
      ...(opts.deadlineMs !== undefined ? { deactivationDeadlineMs: opts.deadlineMs } : {}),
    });
    this.mp = new MiniportSim(this);
    this.cm = new CmSim(this);
    this.cl = new ClientSim(this);
    if (this.mcm) {
      this.mpHandle = this.ndis.registerMcm('mcm', this.mp.handlers(), 'mcm-adapter');
      this.ndis.mCmRegisterAddressFamily(this.mpHandle, AF, this.cm.handlers());
      this.cmBinding = undefined;
    } else {
      this.mpHandle = this.ndis.registerMiniport('mp', this.mp.handlers(), 'mp-adapter');
      const cmProto = this.ndis.registerProtocol('cm', this.cm.protocolHandlers());
      this.cmBinding = this.ndis.openAdapter(cmProto, this.mpHandle, 'cm-binding');
      this.ndis.cmRegisterAddressFamily(this.cmBinding, AF, this.cm.handlers(), 'cm-binding-ctx');
    }
    const clProto = this.ndis.registerProtocol('cl', this.cl.protocolHandlers());
    this.clBinding = this.ndis.openAdapter(clProto, this.mpHandle, 'cl-binding');
    const af = this.ndis.clOpenAddressFamily(this.clBinding, AF, this.cl.handlers(), 'cl-af');
    if (af.status !== NDIS_STATUS_SUCCESS || !af.afHandle) throw new Error('AF open failed');
    this.afHandle = af.afHandle;
    const sap = this.ndis.clRegisterSap(this.afHandle, 'sap-1', 'cl-sap');
    if (sap.status !== NDIS_STATUS_SUCCESS || !sap.sapHandle) throw new Error('SAP registration failed');
    this.sapHandle = sap.sapHandle;
    this.log.length = 0;
    this.ndis.trace?.clear();
  }

  /** In 'async' mode run `fn` in a later turn; in 'sync' mode now. */
  later(fn: () => void): void {
    if (this.mode === 'async') this.sched.schedule(fn);
    else fn();
  }

  /** Run turns until nothing is left. */
  settle(): void {
    this.sched.runAll();
  }

  record(s: string): void {
    this.log.push(s);
  }

  /** Log entries starting with `prefix`. */
  entries(prefix: string): string[] {
    return this.log.filter((e) => e.startsWith(prefix));
  }

  count(prefix: string): number {
    return this.entries(prefix).length;
  }

  handles(h: NdisVcHandle): VcHandles {
    const slot = this.ndis.vcInfo(h)?.slot;
    if (slot === undefined) throw new Error('stale handle');
    let e = this.vcs.get(slot);
    if (!e) {
      e = {};
      this.vcs.set(slot, e);
    }
    return e;
  }

  noteHandle(h: NdisVcHandle, role: keyof VcHandles): void {
    this.handles(h)[role] = h;
  }

  info(h: NdisVcHandle) {
    const i = this.ndis.vcInfo(h);
    if (!i) throw new Error('stale handle');
    return i;
  }

  /** Client creates a VC for an outgoing call. */
  createClientVc(): { status: NdisStatus; vc: NdisVcHandle | undefined } {
    const ctx: VcCtx = { handle: 0 as NdisVcHandle };
    const r = this.ndis.coCreateVc(this.clBinding, this.afHandle, ctx);
    if (r.vcHandle) {
      ctx.handle = r.vcHandle;
      this.noteHandle(r.vcHandle, 'cl');
    }
    return { status: r.status, vc: r.vcHandle };
  }

  /** CM (or MCM) creates a VC for an incoming call. */
  createCmVc(): { status: NdisStatus; vc: NdisVcHandle | undefined } {
    const ctx: VcCtx = { handle: 0 as NdisVcHandle };
    const r = this.mcm
      ? this.ndis.mCmCreateVc(this.mpHandle, this.cmAfHandle, ctx)
      : this.ndis.coCreateVc(this.cmBinding!, this.cmAfHandle, ctx);
    if (r.vcHandle) {
      ctx.handle = r.vcHandle;
      this.noteHandle(r.vcHandle, 'cm');
    }
    return { status: r.status, vc: r.vcHandle };
  }

  /** A full outgoing call: create, make call, settle. Returns the client's handle. */
  outgoingCall(params: CoCallParameters = makeCallParameters()): NdisVcHandle {
    const { status, vc } = this.createClientVc();
    if (status !== NDIS_STATUS_SUCCESS || !vc) throw new Error(`create failed ${statusName(status)}`);
    this.ndis.clMakeCall(vc, params);
    this.settle();
    if (this.info(vc).call !== 'CONNECTED') throw new Error(`call not connected: ${this.info(vc).call}`);
    return vc;
  }

  /** The CM creates and activates a VC (settled), ready for an offer. Returns the CM's handle. */
  activeCmVc(params: CoCallParameters = makeCallParameters()): NdisVcHandle {
    const { status, vc } = this.createCmVc();
    if (status !== NDIS_STATUS_SUCCESS || !vc) throw new Error(`create failed ${statusName(status)}`);
    this.cm.activate(vc, params);
    this.settle();
    if (this.info(vc).activation !== 'ACTIVE') throw new Error('activation failed');
    return vc;
  }

  /** A full incoming call accepted and connected. Returns the CM's handle. */
  incomingCall(params: CoCallParameters = makeCallParameters()): NdisVcHandle {
    const vc = this.activeCmVc(params);
    this.cm.dispatchIncomingCall(vc, params);
    this.settle();
    if (this.info(vc).call === 'ACCEPTED') this.cm.dispatchCallConnected(vc);
    if (this.info(vc).call !== 'CONNECTED') throw new Error(`offer not connected: ${this.info(vc).call}`);
    return vc;
  }

  /** The client's handle of a VC. */
  cl_(vc: NdisVcHandle): NdisVcHandle {
    return this.handles(vc).cl!;
  }
  /** The CM's (or MCM's) handle of a VC. */
  cm_(vc: NdisVcHandle): NdisVcHandle {
    return this.handles(vc).cm!;
  }
  /** The miniport's handle (the MCM's own handle over an MCM). */
  mp_(vc: NdisVcHandle): NdisVcHandle {
    return this.mcm ? this.handles(vc).cm! : this.handles(vc).mp!;
  }

  /** Client sends n NBLs on its VC handle as one list. */
  send(clVc: NdisVcHandle, n = 1): NetBufferList[] {
    const nbls = Array.from({ length: n }, (_, i) => {
      const nbl = makeNbl(new Uint8Array([i, 1, 2, 3]));
      nbl.sourceHandle = clVc;
      return nbl;
    });
    this.ndis.coSendNetBufferLists(clVc, chainNbls(nbls)!, 0);
    return nbls;
  }

  /** Client closes the call and everything settles. */
  closeCall(clVc: NdisVcHandle): NdisStatus {
    const st = this.ndis.clCloseCall(clVc);
    this.settle();
    return st;
  }

  violations(): string[] {
    return this.ndis.verifier.codes();
  }
}

/** A miniport that holds sends until told, indicates on demand, and drains on deactivation. */
export class MiniportSim {
  createStatus: NdisStatus = NDIS_STATUS_SUCCESS;
  activateStatus: NdisStatus = NDIS_STATUS_SUCCESS;
  deactivateStatus: NdisStatus = NDIS_STATUS_SUCCESS;
  deleteStatus: NdisStatus = NDIS_STATUS_SUCCESS;
  /** Pend activations/deactivations (default: in 'async' mode). */
  pend: boolean;
  /** On deactivation: abort held sends and complete when drained (default), or leave it to the test. */
  deactivateBehaviour: 'drain' | 'hang' = 'drain';
  /**
   * Sends held when a deactivation begins: aborted at once (default), or left to finish (frames
   * already on the wire): they complete through completeSends and the drain waits for them.
   */
  sendsOnDeactivate: 'abort' | 'finish' = 'abort';
  /** When set, coActivateVc writes this token rate into the parameters (ROUND_*_FLOW, E15). */
  roundTokenRate: number | undefined;
  /** Sends in the miniport: [miniport's handle, nbl]. */
  readonly held: Array<[NdisVcHandle, NetBufferList]> = [];
  /**
   * MCM only: VCs the MCM has stopped on its NIC because it is deactivating them. NDIS still sees
   * them ACTIVE until NdisMCmDeactivateVc (spec §5 C3, A12), so sends keep arriving; the MCM
   * completes them at once with CLOSING, as lib/miniport does while draining, and never holds one.
   */
  readonly stopped = new Set<NdisVcHandle>();
  /**
   * VCs whose deactivation this miniport pended and has not yet declared drained: it may still
   * indicate receives it had queued (spec §2.3, §2.4 condition 3).
   */
  readonly flushing = new Set<NdisVcHandle>();
  readonly sent: NetBufferList[] = [];
  readonly returned: NetBufferList[] = [];
  readonly activations: CoCallParameters[] = [];
  /** Handler overrides. */
  override: Partial<MiniportCoHandlers> = {};

  constructor(protected readonly h: Harness) {
    this.pend = h.mode === 'async';
  }

  handlers(): MiniportCoHandlers {
    const h = this.h;
    return {
      coCreateVc: (_adapter, vc) => {
        h.record('MP.coCreateVc');
        if (this.override.coCreateVc) return this.override.coCreateVc(_adapter, vc);
        if (this.createStatus === NDIS_STATUS_SUCCESS) h.noteHandle(vc, 'mp');
        return { status: this.createStatus, context: vc };
      },
      coDeleteVc: (ctx) => {
        h.record('MP.coDeleteVc');
        if (this.override.coDeleteVc) return this.override.coDeleteVc(ctx);
        return this.deleteStatus;
      },
      coActivateVc: (ctx, params) => {
        h.record('MP.coActivateVc');
        if (this.override.coActivateVc) return this.override.coActivateVc(ctx, params);
        this.activations.push(params);
        if (this.roundTokenRate !== undefined && params.callMgrParameters) {
          params.callMgrParameters.transmit.tokenRate = this.roundTokenRate;
        }
        if (!this.pend) return this.activateStatus;
        const st = this.activateStatus;
        h.later(() => h.ndis.mCoActivateVcComplete(st, ctxHandle(ctx), params));
        return NDIS_STATUS_PENDING;
      },
      coDeactivateVc: (ctx) => {
        h.record('MP.coDeactivateVc');
        if (this.override.coDeactivateVc) return this.override.coDeactivateVc(ctx);
        const vc = ctxHandle(ctx);
        if (this.deactivateBehaviour === 'hang') return NDIS_STATUS_PENDING;
        if (this.deactivateStatus !== NDIS_STATUS_SUCCESS) {
          if (!this.pend) return this.deactivateStatus;
          const st = this.deactivateStatus;
          h.later(() => h.ndis.mCoDeactivateVcComplete(st, vc));
          return NDIS_STATUS_PENDING;
        }
        if (!this.pend) {
          if (this.sendsOnDeactivate === 'abort') this.abortSends(vc);
          if (h.ndis.vcInfo(vc)?.rxHeld === 0 && !this.holds(vc)) return NDIS_STATUS_SUCCESS;
          h.ndis.mCoDeactivateVcCompleteWhenDrained(vc);
          return NDIS_STATUS_PENDING;
        }
        this.flushing.add(vc);
        h.later(() => {
          this.flushing.delete(vc);
          if (this.sendsOnDeactivate === 'abort') this.abortSends(vc);
          h.ndis.mCoDeactivateVcCompleteWhenDrained(vc);
        });
        return NDIS_STATUS_PENDING;
      },
      coSendNetBufferLists: (ctx, nbls, flags) => {
        h.record(`MP.coSendNetBufferLists:${nblArray(nbls).length}`);
        if (this.override.coSendNetBufferLists) return this.override.coSendNetBufferLists(ctx, nbls, flags);
        if (this.stopped.has(ctxHandle(ctx))) {
          for (let p: NetBufferList | null = nbls; p; p = p.next) {
            p.status = NDIS_STATUS_CLOSING;
            this.sent.push(p);
          }
          h.ndis.mCoSendNetBufferListsComplete(ctxHandle(ctx), nbls, 0);
          return;
        }
        for (let p: NetBufferList | null = nbls; p; ) {
          const next: NetBufferList | null = p.next;
          p.next = null;
          this.held.push([ctxHandle(ctx), p]);
          this.sent.push(p);
          p = next;
        }
      },
      returnNetBufferLists: (_adapter, nbls, flags) => {
        h.record(`MP.returnNetBufferLists:${nblArray(nbls).length}`);
        for (const p of nblArray(nbls)) this.returned.push(p);
        this.override.returnNetBufferLists?.(_adapter, nbls, flags);
        h.cm.poke();
      },
      coAbortVc: (ctx) => {
        h.record('MP.coAbortVc');
        this.override.coAbortVc?.(ctx);
      },
    };
  }

  /** Complete held sends (oldest first, all or `n`) with `status`, one completion call per VC run. */
  completeSends(status: NdisStatus = NDIS_STATUS_SUCCESS, n = this.held.length): void {
    const batch = this.held.splice(0, n);
    let i = 0;
    while (i < batch.length) {
      const vc = batch[i]![0];
      const run: NetBufferList[] = [];
      while (i < batch.length && batch[i]![0] === vc) {
        const nbl = batch[i]![1];
        nbl.status = status;
        run.push(nbl);
        i++;
      }
      this.h.ndis.mCoSendNetBufferListsComplete(vc, chainNbls(run)!, 0);
    }
    this.h.cm.poke(); // an MCM draining with sends left to finish may be done now
  }

  /**
   * MCM: stop a VC on the NIC before reporting its deactivation (spec §3.4): sends arriving from
   * now on are completed at once, the ones held are aborted.
   */
  stop(vc: NdisVcHandle): void {
    this.stopped.add(vc);
    if (this.sendsOnDeactivate === 'abort') this.abortSends(vc);
  }

  /** Whether a send of this VC is still in the miniport. */
  holds(vc: NdisVcHandle): boolean {
    return this.held.some(([v]) => v === vc);
  }

  /** Complete every held send of one VC with SEND_ABORTED (what a deactivating miniport does). */
  abortSends(vc: NdisVcHandle): void {
    const mine = this.held.filter(([v]) => v === vc);
    if (mine.length === 0) return;
    for (const e of mine) this.held.splice(this.held.indexOf(e), 1);
    for (const [, nbl] of mine) nbl.status = NDIS_STATUS_SEND_ABORTED;
    this.h.ndis.mCoSendNetBufferListsComplete(vc, chainNbls(mine.map(([, nbl]) => nbl))!, 0);
  }

  /** Indicate n receives on the miniport's handle of a VC. */
  indicate(mpVc: NdisVcHandle, n = 1, flags = 0): NetBufferList[] {
    const nbls = Array.from({ length: n }, (_, i) => makeNbl(new Uint8Array([0xaa, i])));
    this.h.ndis.mCoIndicateReceiveNetBufferLists(mpVc, chainNbls(nbls)!, n, flags);
    return nbls;
  }
}

/** A call manager that activates inside make-call, deactivates inside close-call, re-activates for QoS. */
export class CmSim {
  /** Forced results (bypass the normal flow). */
  makeCallStatus: NdisStatus | undefined;
  closeCallStatus: NdisStatus | undefined;
  qosStatus: NdisStatus | undefined;
  deleteStatus: NdisStatus = NDIS_STATUS_SUCCESS;
  createStatus: NdisStatus = NDIS_STATUS_SUCCESS;
  /** Dispatch CallConnected as soon as the client accepts (default true). */
  autoConnect = true;
  readonly receives: NetBufferList[] = [];
  readonly sendCompletions: NetBufferList[] = [];
  override: Partial<CallManagerHandlers> = {};

  /**
   * MCM: deactivations waiting for the VC's receives to come back, per MCM handle, with whoever
   * waits for the result (a pended close, or nobody). One per VC: a second request joins it.
   */
  private readonly draining = new Map<NdisVcHandle, Array<(s: NdisStatus) => void>>();

  constructor(private readonly h: Harness) {}

  /** Retry MCM deactivations waiting for receives to come back (or held sends to finish). */
  poke(): void {
    for (const [vc, waiters] of [...this.draining]) {
      // Re-checked each time: NDIS may call the MCM back (MiniportReturnNetBufferLists, so poke)
      // from inside NdisMCmDeactivateVc, and that nested poke may have reported this VC already.
      if (this.draining.get(vc) !== waiters || !this.mcmDrained(vc)) continue;
      this.draining.delete(vc);
      const st = this.mcmReportDeactivated(vc);
      for (const w of waiters) w(st);
    }
  }

  private get pend(): boolean {
    return this.h.mode === 'async';
  }

  protocolHandlers(): ProtocolCoHandlers {
    const h = this.h;
    return {
      coSendNetBufferListsComplete: (_ctx, nbls) => {
        h.record(`CM.coSendNetBufferListsComplete:${nblArray(nbls).length}`);
        this.sendCompletions.push(...nblArray(nbls));
      },
      coReceiveNetBufferLists: (_b, _ctx, nbls, n) => {
        h.record(`CM.coReceiveNetBufferLists:${n}`);
        this.receives.push(...nblArray(nbls));
      },
    };
  }

  handlers(): CallManagerHandlers {
    const h = this.h;
    const nd = () => h.ndis;
    return {
      cmOpenAf: (_b, _af, afHandle) => {
        h.cmAfHandle = afHandle;
        return { status: NDIS_STATUS_SUCCESS, context: 'cm-af' };
      },
      cmCloseAf: (ctx) => {
        h.record('CM.cmCloseAf');
        return this.override.cmCloseAf ? this.override.cmCloseAf(ctx) : NDIS_STATUS_SUCCESS;
      },
      cmRegisterSap: () => ({ status: NDIS_STATUS_SUCCESS, context: 'cm-sap' }),
      cmDeregisterSap: () => NDIS_STATUS_SUCCESS,
      coCreateVc: (_af, vc) => {
        h.record('CM.coCreateVc');
        if (this.override.coCreateVc) return this.override.coCreateVc(_af, vc);
        if (this.createStatus !== NDIS_STATUS_SUCCESS) return this.createStatus;
        h.noteHandle(vc, 'cm');
        return { status: NDIS_STATUS_SUCCESS, context: { handle: vc } satisfies VcCtx };
      },
      coDeleteVc: (ctx) => {
        h.record('CM.coDeleteVc');
        if (this.override.coDeleteVc) return this.override.coDeleteVc(ctx);
        return this.deleteStatus;
      },
      cmMakeCall: (ctx, params, party) => {
        h.record('CM.cmMakeCall');
        if (this.override.cmMakeCall) return this.override.cmMakeCall(ctx, params, party);
        if (this.makeCallStatus !== undefined) return this.makeCallStatus;
        const c = ctx as VcCtx;
        const done = (s: NdisStatus) =>
          h.mcm
            ? nd().mCmMakeCallComplete(s, c.handle, undefined, undefined, params)
            : nd().cmMakeCallComplete(s, c.handle, undefined, undefined, params);
        if (!this.pend) {
          const st = this.activateWith(c, params, done);
          return st;
        }
        h.later(() => {
          const st = this.activateWith(c, params, done);
          if (st !== NDIS_STATUS_PENDING) done(st);
        });
        return NDIS_STATUS_PENDING;
      },
      cmCloseCall: (ctx, party, data) => {
        h.record('CM.cmCloseCall');
        if (this.override.cmCloseCall) return this.override.cmCloseCall(ctx, party, data);
        if (this.closeCallStatus !== undefined) return this.closeCallStatus;
        const c = ctx as VcCtx;
        const done = (s: NdisStatus) =>
          h.mcm ? nd().mCmCloseCallComplete(s, c.handle) : nd().cmCloseCallComplete(s, c.handle);
        if (!this.pend) return this.deactivateWith(c, done);
        h.later(() => {
          const st = this.deactivateWith(c, done);
          if (st !== NDIS_STATUS_PENDING) done(st);
        });
        return NDIS_STATUS_PENDING;
      },
      cmModifyCallQoS: (ctx, params) => {
        h.record('CM.cmModifyCallQoS');
        if (this.override.cmModifyCallQoS) return this.override.cmModifyCallQoS(ctx, params);
        if (this.qosStatus !== undefined) return this.qosStatus;
        const c = ctx as VcCtx;
        const done = (s: NdisStatus) =>
          h.mcm
            ? nd().mCmModifyCallQoSComplete(s, c.handle, params)
            : nd().cmModifyCallQoSComplete(s, c.handle, params);
        if (!this.pend) return this.activateWith(c, params, done);
        h.later(() => {
          const st = this.activateWith(c, params, done);
          if (st !== NDIS_STATUS_PENDING) done(st);
        });
        return NDIS_STATUS_PENDING;
      },
      cmIncomingCallComplete: (status, ctx, params) => {
        h.record(`CM.cmIncomingCallComplete:${statusName(status)}`);
        this.override.cmIncomingCallComplete?.(status, ctx, params);
        // (a CM that has meanwhile dispatched an incoming close does not connect: E29)
        const vc = (ctx as VcCtx).handle;
        if (status === NDIS_STATUS_SUCCESS && this.autoConnect && h.ndis.vcInfo(vc)?.call === 'ACCEPTED') {
          this.dispatchCallConnected(vc);
        }
      },
      cmActivateVcComplete: (status, ctx, params) => {
        h.record(`CM.cmActivateVcComplete:${statusName(status)}`);
        this.override.cmActivateVcComplete?.(status, ctx, params);
        if (typeof ctx !== 'object' || !ctx) return;
        const c = ctx as VcCtx;
        const f = c.onActivated;
        c.onActivated = undefined;
        f?.(status);
      },
      cmDeactivateVcComplete: (status, ctx) => {
        h.record(`CM.cmDeactivateVcComplete:${statusName(status)}`);
        this.override.cmDeactivateVcComplete?.(status, ctx);
        if (typeof ctx !== 'object' || !ctx) return;
        const c = ctx as VcCtx;
        const f = c.onDeactivated;
        c.onDeactivated = undefined;
        f?.(status);
      },
    };
  }

  /** Activate (MCM: report the activation) and call `then` if it pended. Returns the final status or PENDING. */
  private activateWith(c: VcCtx, params: CoCallParameters, then: (s: NdisStatus) => void): NdisStatus {
    const st = this.activate(c.handle, params);
    if (st === NDIS_STATUS_PENDING) c.onActivated = then;
    return st;
  }

  /** Deactivate unless already inactive; `then` runs if it pended. */
  private deactivateWith(c: VcCtx, then: (s: NdisStatus) => void): NdisStatus {
    const info = this.h.ndis.vcInfo(c.handle);
    if (info?.activation === 'INACTIVE') return NDIS_STATUS_SUCCESS;
    if (this.h.mcm) {
      // An MCM drains before it reports the deactivation (spec §2.4, §3.4): it stops the VC on its
      // NIC (held sends aborted, later ones refused: NDIS cannot refuse them, it still sees the VC
      // ACTIVE), waits for every receive it indicated to come back, and only then calls
      // NdisMCmDeactivateVc, which returns a final status (§5 C3).
      const waiters = this.draining.get(c.handle);
      if (waiters) {
        waiters.push(then);
        return NDIS_STATUS_PENDING;
      }
      this.h.mp.stop(c.handle);
      if (this.mcmDrained(c.handle)) return this.mcmReportDeactivated(c.handle);
      this.draining.set(c.handle, [then]);
      return NDIS_STATUS_PENDING;
    }
    const st = this.h.ndis.cmDeactivateVc(c.handle);
    if (st === NDIS_STATUS_PENDING) c.onDeactivated = then;
    return st;
  }

  /** MCM: nothing of the VC left in the MCM's send queue and every receive it indicated returned. */
  private mcmDrained(vc: NdisVcHandle): boolean {
    return !this.h.mp.holds(vc) && (this.h.ndis.vcInfo(vc)?.rxHeld ?? 0) === 0;
  }

  /** MCM: the drain is over; tell NDIS (a final status) and start the VC again on a later activation. */
  private mcmReportDeactivated(vc: NdisVcHandle): NdisStatus {
    const st = this.h.ndis.mCmDeactivateVc(vc);
    this.h.mp.stopped.delete(vc);
    return st;
  }

  /**
   * Activate (MCM: report the activation). An MCM refuses to re-activate a VC it is deactivating
   * with CLOSING, the status NDIS gives a stand-alone CM in that state (spec §2.3).
   */
  activate(vc: NdisVcHandle, params: CoCallParameters): NdisStatus {
    if (this.h.mcm && this.draining.has(vc)) return NDIS_STATUS_CLOSING;
    return this.h.mcm ? this.h.ndis.mCmActivateVc(vc, params) : this.h.ndis.cmActivateVc(vc, params);
  }

  /** Deactivate; an MCM first drains the VC itself (completes held sends, waits for returns). */
  deactivate(vc: NdisVcHandle): NdisStatus {
    if (!this.h.mcm) return this.h.ndis.cmDeactivateVc(vc);
    return this.deactivateWith({ handle: vc }, () => {});
  }

  /** Offer a call; a synchronous acceptance is followed by CallConnected when autoConnect is on. */
  dispatchIncomingCall(vc: NdisVcHandle, params: CoCallParameters): NdisStatus {
    const st = this.h.mcm
      ? this.h.ndis.mCmDispatchIncomingCall(this.h.sapHandle, vc, params)
      : this.h.ndis.cmDispatchIncomingCall(this.h.sapHandle, vc, params);
    if (st === NDIS_STATUS_SUCCESS && this.autoConnect) this.dispatchCallConnected(vc);
    return st;
  }

  dispatchCallConnected(vc: NdisVcHandle): void {
    if (this.h.mcm) this.h.ndis.mCmDispatchCallConnected(vc);
    else this.h.ndis.cmDispatchCallConnected(vc);
  }

  dispatchIncomingCloseCall(status: NdisStatus, vc: NdisVcHandle, data?: Uint8Array): void {
    if (this.h.mcm) this.h.ndis.mCmDispatchIncomingCloseCall(status, vc, data);
    else this.h.ndis.cmDispatchIncomingCloseCall(status, vc, data);
  }

  deleteVc(vc: NdisVcHandle): NdisStatus {
    return this.h.mcm ? this.h.ndis.mCmDeleteVc(vc) : this.h.ndis.coDeleteVc(vc);
  }
}

/** A client that holds received NBLs until told, and answers offers as configured. */
export class ClientSim {
  /** Answer to offers (SUCCESS accepts). Pends and answers later in 'async' mode. */
  offerAnswer: NdisStatus = NDIS_STATUS_SUCCESS;
  createStatus: NdisStatus = NDIS_STATUS_SUCCESS;
  deleteStatus: NdisStatus = NDIS_STATUS_SUCCESS;
  readonly completed: NetBufferList[] = [];
  /** The client's VC handle each completed NBL came back on (from the ProtocolVcContext). */
  readonly completedOn: NdisVcHandle[] = [];
  readonly received: NetBufferList[] = [];
  /** Non-RESOURCES receives not yet returned. */
  readonly heldRx: NetBufferList[] = [];
  readonly statuses: NdisStatus[] = [];
  override: Partial<ClientHandlers> = {};

  constructor(private readonly h: Harness) {}

  protocolHandlers(): ProtocolCoHandlers {
    const h = this.h;
    return {
      coSendNetBufferListsComplete: (_ctx, nbls) => {
        const list = nblArray(nbls);
        h.record(`CL.coSendNetBufferListsComplete:${list.map((n) => statusName(n.status)).join(',')}`);
        this.completed.push(...list);
        for (const _ of list) this.completedOn.push(ctxHandle(_ctx));
      },
      coReceiveNetBufferLists: (_b, _ctx, nbls, n, flags) => {
        h.record(
          `CL.coReceiveNetBufferLists:${n}${flags & NDIS_RECEIVE_FLAGS_RESOURCES ? ':RESOURCES' : ''}`,
        );
        const list = nblArray(nbls);
        this.received.push(...list);
        if (!(flags & NDIS_RECEIVE_FLAGS_RESOURCES)) this.heldRx.push(...list);
      },
      coStatusEx: (_b, _ctx, status) => {
        h.record(`CL.coStatusEx:${statusName(status)}`);
        this.statuses.push(status);
      },
    };
  }

  handlers(): ClientHandlers {
    const h = this.h;
    return {
      coCreateVc: (_af, vc) => {
        h.record('CL.coCreateVc');
        if (this.override.coCreateVc) return this.override.coCreateVc(_af, vc);
        if (this.createStatus !== NDIS_STATUS_SUCCESS) return this.createStatus;
        h.noteHandle(vc, 'cl');
        return { status: NDIS_STATUS_SUCCESS, context: { handle: vc } satisfies VcCtx };
      },
      coDeleteVc: (ctx) => {
        h.record('CL.coDeleteVc');
        if (this.override.coDeleteVc) return this.override.coDeleteVc(ctx);
        return this.deleteStatus;
      },
      clMakeCallComplete: (status, ctx, party, params) => {
        h.record(`CL.clMakeCallComplete:${statusName(status)}`);
        this.override.clMakeCallComplete?.(status, ctx, party, params);
      },
      clCloseCallComplete: (status, ctx, party) => {
        h.record(`CL.clCloseCallComplete:${statusName(status)}`);
        this.override.clCloseCallComplete?.(status, ctx, party);
      },
      clModifyCallQoSComplete: (status, ctx, params) => {
        h.record(`CL.clModifyCallQoSComplete:${statusName(status)}`);
        this.override.clModifyCallQoSComplete?.(status, ctx, params);
      },
      clIncomingCall: (sap, ctx, params) => {
        h.record('CL.clIncomingCall');
        if (this.override.clIncomingCall) return this.override.clIncomingCall(sap, ctx, params);
        if (h.mode === 'sync') return this.offerAnswer;
        const answer = this.offerAnswer;
        h.later(() => h.ndis.clIncomingCallComplete(answer, (ctx as VcCtx).handle, params));
        return NDIS_STATUS_PENDING;
      },
      clCallConnected: (ctx) => {
        h.record('CL.clCallConnected');
        this.override.clCallConnected?.(ctx);
      },
      clIncomingCloseCall: (status, ctx, data) => {
        h.record(`CL.clIncomingCloseCall:${statusName(status)}`);
        this.override.clIncomingCloseCall?.(status, ctx, data);
      },
      clIncomingCallQoSChange: (ctx, params) => {
        h.record('CL.clIncomingCallQoSChange');
        this.override.clIncomingCallQoSChange?.(ctx, params);
      },
    };
  }

  /** Return every held receive NBL (or the first n) in one NdisReturnNetBufferLists call. */
  returnReceives(n = this.heldRx.length): void {
    const batch = this.heldRx.splice(0, n);
    if (batch.length) this.h.ndis.returnNetBufferLists(this.h.clBinding, chainNbls(batch)!, 0);
  }
}
