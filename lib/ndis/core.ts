/**
 * The runtime's state and the few moves every concern shares: one `NdisCore` per `Ndis`, passed
 * as the first argument to the functions of bindings.ts, vc-lifecycle.ts, calls.ts, data-path.ts,
 * request.ts and interpreter.ts. It holds the registry (drivers, bindings, AFs, SAPs, the VC
 * table), the delivery queue, the clock, the verifier and the trace; and it knows how NDIS
 * resolves a VC handle (E58), calls a driver's handler (tracing the call and its return, E7 for a
 * create/delete handler that pends), enters a state, and flags a break.
 *
 * Sits above registry.ts and delivery.ts, below every concern module; it imports none of them.
 * `Ndis` (ndis.ts) is the public facade over it.
 */

import type { CondisError } from '../errors';
import type {
  ContextResult,
  NdisAfHandle,
  NdisBindingHandle,
  NdisMiniportHandle,
  NdisProtocolHandle,
  NdisSapHandle,
  NdisVcHandle,
} from './actors';
import type { Clock } from './clock';
import { DeliveryQueue } from './delivery';
import { CondisErrorCode, ndisError, ruleCode, type VcSnapshot } from './errors';
import type { NdisDataPathObserver } from './options';
import {
  type AfRec,
  type BindingRec,
  handleOf,
  type MiniportRec,
  type ProtocolRec,
  partyOf,
  type Role,
  roleOf,
  type SapRec,
  traceEvent,
  type VcRec,
  VcTable,
} from './registry';
import type { Scheduler } from './scheduler';
import {
  NDIS_STATUS_FAILURE,
  NDIS_STATUS_NOT_ACCEPTED,
  NDIS_STATUS_PENDING,
  NDIS_STATUS_SUCCESS,
  type NdisStatus,
} from './status';
import type { Party, Trace, TraceKind } from './trace';
import type { ActivationState, CallState, SendPolicy } from './vc-states';
import type { Verifier } from './verifier';

export class NdisCore {
  readonly miniports = new Map<NdisMiniportHandle, MiniportRec>();
  readonly protocols = new Map<NdisProtocolHandle, ProtocolRec>();
  readonly bindings = new Map<NdisBindingHandle, BindingRec>();
  readonly afs = new Map<NdisAfHandle, AfRec>();
  readonly saps = new Map<NdisSapHandle, SapRec>();
  readonly vcs = new VcTable();
  readonly delivery: DeliveryQueue;
  /** VCs touched by the return being processed (reused array). */
  readonly touched: VcRec[] = [];
  /** Next AF/SAP handle number. */
  nextId = 1;
  /** A fatal break found mid-request (E7), thrown once the request has cleaned up. */
  fatal: CondisError | undefined;
  /** Resolver of the next request made by an xxxAsync wrapper. */
  armed: ((s: NdisStatus) => void) | undefined;

  constructor(
    readonly clock: Clock,
    readonly scheduler: Scheduler,
    readonly verifier: Verifier,
    readonly trace: Trace | undefined,
    public sendPolicy: SendPolicy,
    public deactivationDeadlineMs: number | undefined,
    readonly observer: NdisDataPathObserver | undefined,
  ) {
    this.delivery = new DeliveryQueue(scheduler, trace);
  }

  // ---------------------------------------------------------------------------------------------
  // Handles

  /**
   * Resolve a VC handle. A stale handle (deleted VC, even with its slot reused) is E58: thrown in
   * 'throw' mode, and on the data path always (there is nobody to complete the NBLs to).
   */
  vcOf(h: NdisVcHandle, name: string, role?: Role, alwaysThrow = false): VcRec | undefined {
    const vc = this.vcs.bySource(h);
    if (!vc) {
      this.tr('note', 'NDIS', 'NDIS', 'stale handle', undefined, undefined, name);
      const e = this.verifier.report(ruleCode(58), `${name}: stale or unknown VC handle 0x${h.toString(16)}`);
      if (alwaysThrow || this.verifier.mode === 'throw')
        throw e ?? ndisError(ruleCode(58), `${name}: stale or unknown VC handle`);
      return undefined;
    }
    if (role && roleOf(h) !== role && !(vc.mcm && role === 'cm' && roleOf(h) === 'miniport')) {
      this.flag(CondisErrorCode.WRONG_CALLER, `${name} called with the ${roleOf(h)}'s handle`, vc);
    }
    return vc;
  }

  need<T>(x: T | undefined, name: string): T {
    if (x === undefined) throw ndisError(CondisErrorCode.INVALID_HANDLE, `${name}: unknown handle`);
    return x;
  }

  snap(vc: VcRec): VcSnapshot {
    return {
      handle: handleOf(vc, vc.creator),
      slot: vc.slot,
      activation: vc.a,
      call: vc.c,
      txInMiniport: vc.drain.txInMiniport,
      rxHeld: vc.drain.rxHeld,
      stopping: vc.drain.stopping,
    };
  }

  // ---------------------------------------------------------------------------------------------
  // States

  setA(vc: VcRec, next: ActivationState): void {
    if (vc.a === next) return;
    vc.a = next;
    if (this.trace) this.tr('state', 'NDIS', 'NDIS', 'state', vc);
  }

  setC(vc: VcRec, next: CallState): void {
    if (vc.c === next) return;
    vc.c = next;
    if (this.trace) this.tr('state', 'NDIS', 'NDIS', 'state', vc);
  }

  // ---------------------------------------------------------------------------------------------
  // Verifier

  /**
   * Flag a break about `vc` in one call: the snapshot is taken only when the verifier records
   * (never in 'off' mode). Throws in 'throw' mode; call it last, once state is consistent.
   */
  flag(code: string, message: string, vc?: VcRec): void {
    if (this.verifier.mode === 'off') return;
    this.verifier.flag(code, message, vc && this.snap(vc));
  }

  badTransition(vc: VcRec, event: string, name: string): NdisStatus {
    this.flag(
      CondisErrorCode.BAD_TRANSITION,
      `${name}: event ${event} has no transition from A=${vc.a} C=${vc.c}`,
      vc,
    );
    return NDIS_STATUS_NOT_ACCEPTED;
  }

  wrongVariant(vc: VcRec, name: string): void {
    this.flag(
      CondisErrorCode.WRONG_VARIANT,
      vc.mcm
        ? `${name} on an MCM VC (use the NdisMCm* variant)`
        : `${name} on a stand-alone VC (NdisMCm* is for MCMs)`,
      vc,
    );
  }

  detached(vc: VcRec, name: string): NdisStatus {
    this.ret('Client', NDIS_STATUS_NOT_ACCEPTED, vc);
    this.flag(ruleCode(37), `${name} on a CM-created VC after its close completed`, vc);
    return NDIS_STATUS_NOT_ACCEPTED;
  }

  /** Throw the fatal break a create or delete found (E7), once the request has cleaned up. */
  raiseFatal(): void {
    const e = this.fatal;
    this.fatal = undefined;
    if (e && this.verifier.mode === 'throw') throw e;
  }

  // ---------------------------------------------------------------------------------------------
  // Handler calls

  /** Invoke a handler that returns a status (or nothing), tracing the call and its return. */
  handler(to: Party, name: string, vc: VcRec | undefined, fn: () => NdisStatus | undefined): NdisStatus {
    this.tr('handler', 'NDIS', to, name, vc);
    const st = fn();
    if (st === undefined) return NDIS_STATUS_SUCCESS;
    if (typeof st !== 'number') {
      throw ndisError(CondisErrorCode.BAD_RETURN, `${name} returned ${String(st)}, not an NDIS_STATUS`);
    }
    this.tr('handler-return', to, 'NDIS', name, vc, st);
    return st;
  }

  /** Invoke an open/register handler that may return a context. */
  handlerCtx(to: Party, name: string, fn: () => ContextResult): ContextResult {
    this.tr('handler', 'NDIS', to, name);
    const r = fn();
    this.tr('handler-return', to, 'NDIS', name, undefined, splitResult(r).status);
    return r;
  }

  /** A create handler: may not pend (E7). Stores the returned context. */
  callCreate(vc: VcRec, role: Role, name: string, fn: () => ContextResult): NdisStatus {
    const to = partyOf(vc, role);
    this.tr('handler', 'NDIS', to, name, vc);
    const { status, context } = splitResult(fn());
    this.tr('handler-return', to, 'NDIS', name, vc, status);
    if (status === NDIS_STATUS_SUCCESS) vc.ctx[role] = context ?? handleOf(vc, role);
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
  callDelete(vc: VcRec, role: Role, name: string): NdisStatus {
    const st = this.handler(partyOf(vc, role), name, vc, () => {
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

  // ---------------------------------------------------------------------------------------------
  // Promises and trace

  takeArmed(): ((s: NdisStatus) => void) | undefined {
    const r = this.armed;
    this.armed = undefined;
    return r;
  }

  /** Run a request with an xxxAsync resolver armed: the Promise settles with its final status. */
  arm(fn: () => NdisStatus): Promise<NdisStatus> {
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

  ret(to: Party, status: NdisStatus, vc?: VcRec): NdisStatus {
    if (this.trace) this.tr('return', 'NDIS', to, '', vc, status);
    return status;
  }

  tr(
    kind: TraceKind,
    from: Party,
    to: Party,
    name: string,
    vc?: VcRec,
    status?: NdisStatus,
    detail?: string,
  ): void {
    const t = this.trace;
    if (!t) return;
    traceEvent(t, kind, from, to, name, vc, status, detail);
  }
}

export function splitResult(r: ContextResult): { status: NdisStatus; context: unknown } {
  if (typeof r === 'number') return { status: r, context: undefined };
  return r;
}
