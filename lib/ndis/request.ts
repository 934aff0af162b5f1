/**
 * The request skeleton: every Ndis* request that moves a VC along a state axis, and every
 * Ndis*Complete that finishes one, is this code with a descriptor (spec §1.2 conventions, §2.3):
 *
 *   request:    take the armed xxxAsync resolver -> resolve the VC handle (E58, WRONG_CALLER) ->
 *               trace the call -> check the variant (NdisCm* vs NdisMCm*) -> the request's own
 *               admission checks -> catch up deliveries (I4) -> hold the VC's mailbox -> look the
 *               transition up ONCE -> refuse (§2.3) or take it through interpreter.ts -> call the
 *               peer the request names -> PENDING (the completion will finish it) or finish now.
 *   completion: resolve the VC handle -> trace -> check the variant -> PENDING is E19 -> post to
 *               the mailbox -> no pended request is E20 -> finish.
 *
 * The Cm/MCm twins are one descriptor with a variant (`twins`). The descriptors live with their
 * concern (vc-lifecycle.ts, calls.ts); this file has no NDIS request of its own.
 * Control path only: a descriptor's hooks and a context object per request are fine here.
 */
import type { NdisVcHandle } from './actors';
import type { CoCallParameters } from './call-parameters';
import type { NdisCore } from './core';
import { ruleCode } from './errors';
import { type EffectContext, takeActivation, takeCall } from './interpreter';
import { partyOf, type Req, type Role, roleOf, type VcRec } from './registry';
import {
  NDIS_STATUS_INVALID_PARAMETER,
  NDIS_STATUS_NOT_ACCEPTED,
  NDIS_STATUS_PENDING,
  NDIS_STATUS_SUCCESS,
  type NdisStatus,
} from './status';
import type { Party } from './trace';
import {
  type ActivationEvent,
  type ActivationState,
  activationTransition,
  type CallEvent,
  callTransition,
} from './vc-states';

/** What one request carries through its steps (the interpreter's EffectContext among them). */
export interface RequestContext<A> extends EffectContext {
  readonly name: string;
  /** The caller's role (the spec's, or the role of the handle it passed) and its trace name. */
  readonly role: Role;
  readonly party: Party;
  /** The request's own arguments. */
  readonly args: A;
  /** The xxxAsync resolver armed for this request, if any. */
  readonly resolve: ((s: NdisStatus) => void) | undefined;
  /** The activation state before the transition. */
  from: ActivationState;
  /** The record of the request on the VC (vc.act, vc.make...), once opened. */
  req: Req | undefined;
}

type Hook<A, R> = (core: NdisCore, vc: VcRec, cx: RequestContext<A>) => R;

/** An Ndis* request that takes a VC transition. Hooks run in the order they are listed. */
export interface RequestSpec<A> {
  readonly name: string;
  /** Whose handle the caller must pass (WRONG_CALLER otherwise); undefined: any party's. */
  readonly role: Role | undefined;
  /** The caller, as traced; undefined: the role of the handle passed. */
  readonly caller: Role | undefined;
  /** Whether `vc` fits this variant (NdisCm* vs NdisMCm*); WRONG_VARIANT otherwise (not refused). */
  readonly variant?: (vc: VcRec) => boolean;
  /** The status traced with the call (an incoming close carries its CloseStatus). */
  readonly traceStatus?: (args: A) => NdisStatus | undefined;
  /** The call parameters the effects see (activations). */
  readonly params?: (args: A) => CoCallParameters | undefined;
  /** Refusals before the VC is held that the tables do not decide (the caller, the SAP, E25...). */
  readonly admit?: Hook<A, NdisStatus | undefined>;
  /** Deliver what is queued for the VC first (activation axis: I4). */
  readonly catchUp?: boolean;
  /** Refused with NOT_ACCEPTED before the lookup (one QoS change at a time). */
  readonly busy?: (vc: VcRec) => boolean;
  readonly axis: 'activation' | 'call';
  /** The event: fixed, or chosen from the VC (NdisMCmDeactivateVc: drained or not). */
  readonly event: ActivationEvent | CallEvent | ((vc: VcRec) => ActivationEvent);
  /**
   * For requests without a status for their caller (dispatches): what a refusal does. Without
   * it, a refusal is returned and a missing entry is BAD_TRANSITION.
   */
  readonly refused?: (core: NdisCore, vc: VcRec, cx: RequestContext<A>, event: string) => void;
  /** A legal transition may still be refused (a call outstanding at delete, E64): the status. */
  readonly guard?: Hook<A, NdisStatus | undefined>;
  /** Record the request on the VC (vc.act = ...) before the transition's effects run. */
  readonly open?: Hook<A, Req | undefined>;
  /** The peer the request names, once the VC is in its new state (call axis). */
  readonly peer?: Hook<A, NdisStatus>;
  /** The request pended: its completion will finish it (the drain deadline starts here). */
  readonly pended?: Hook<A, void>;
  /** A final status: finish the request now; returns what the caller gets. Default: the status. */
  readonly finish?: (core: NdisCore, vc: VcRec, cx: RequestContext<A>, status: NdisStatus) => NdisStatus;
  /** No return traced and no status for the caller (a dispatch). */
  readonly quiet?: boolean;
  /** Breaks flagged after the return is recorded (so the runtime is consistent when it throws). */
  readonly after?: (core: NdisCore, vc: VcRec, cx: RequestContext<A>, final: NdisStatus) => void;
}

/** Run request `spec` on `vcHandle`. */
export function request<A>(
  core: NdisCore,
  spec: RequestSpec<A>,
  vcHandle: NdisVcHandle,
  args: A,
): NdisStatus {
  const resolve = core.takeArmed();
  const vc = core.vcOf(vcHandle, spec.name, spec.role);
  if (!vc) return NDIS_STATUS_INVALID_PARAMETER;
  const role = spec.caller ?? roleOf(vcHandle);
  const party = partyOf(vc, role);
  core.tr('call', party, 'NDIS', spec.name, vc, spec.traceStatus?.(args));
  if (spec.variant && !spec.variant(vc)) core.wrongVariant(vc, spec.name);
  const cx: RequestContext<A> = {
    name: spec.name,
    role,
    party,
    args,
    resolve,
    from: vc.a,
    req: undefined,
    params: spec.params?.(args),
    status: NDIS_STATUS_SUCCESS,
  };
  if (spec.admit) {
    const st = spec.admit(core, vc, cx);
    if (st !== undefined) return st;
  }
  if (spec.catchUp) core.delivery.catchUp(vc);
  return vc.mailbox.hold(() => take(core, spec, vc, cx));
}

/** The part of a request that runs with the VC held. */
function take<A>(core: NdisCore, spec: RequestSpec<A>, vc: VcRec, cx: RequestContext<A>): NdisStatus {
  const party = cx.party;
  if (spec.busy?.(vc)) return core.ret(party, NDIS_STATUS_NOT_ACCEPTED, vc);
  const event = typeof spec.event === 'function' ? spec.event(vc) : spec.event;
  // The one lookup of this request's transition.
  const out =
    spec.axis === 'activation'
      ? activationTransition(vc.a, event as ActivationEvent)
      : callTransition(vc.c, event as CallEvent);
  if (out === undefined || out.refuse !== undefined) {
    if (spec.refused) {
      spec.refused(core, vc, cx, event);
      return out?.refuse ?? NDIS_STATUS_NOT_ACCEPTED;
    }
    if (out === undefined) return core.ret(party, core.badTransition(vc, event, spec.name), vc);
    return core.ret(party, out.refuse, vc);
  }
  if (spec.guard) {
    const st = spec.guard(core, vc, cx);
    if (st !== undefined) return st;
  }
  cx.from = vc.a;
  const req = spec.open?.(core, vc, cx);
  cx.req = req;
  let st: NdisStatus;
  if (spec.axis === 'activation') {
    st = takeActivation(core, vc, event as ActivationEvent, out as never, cx);
  } else {
    takeCall(core, vc, event as CallEvent, out as never);
    st = NDIS_STATUS_SUCCESS;
  }
  if (st === NDIS_STATUS_SUCCESS && spec.peer) st = spec.peer(core, vc, cx);
  let final = st;
  if (st === NDIS_STATUS_PENDING && req) {
    req.pended = true;
    spec.pended?.(core, vc, cx);
  } else if (spec.finish) {
    final = spec.finish(core, vc, cx, st);
  }
  if (spec.quiet) return final;
  // A deleted VC is traced no more: its return names no VC.
  const r = core.ret(party, final, vc.a === 'DELETED' ? undefined : vc);
  spec.after?.(core, vc, cx, final);
  return r;
}

/** An Ndis*Complete that finishes a request a driver pended. */
export interface CompletionSpec<A> {
  readonly name: string;
  /** Whose handle the caller must pass; undefined: any party's. */
  readonly role: Role | undefined;
  /** The completing party, as traced. */
  readonly caller: Role;
  readonly variant?: (vc: VcRec) => boolean;
  /** Trace detail of the completion call. */
  readonly detail?: string;
  /** E19's wording: "with PENDING" or "with NDIS_STATUS_PENDING". */
  readonly pendingText: string;
  /** The pended request this completes, or undefined (E20, message `${name} ${without}`). */
  readonly pending: (vc: VcRec) => Req | undefined;
  readonly without: string;
  /** Finish the request with the driver's status (inside the VC's mailbox). */
  readonly finish: (core: NdisCore, vc: VcRec, status: NdisStatus, args: A, name: string) => void;
}

/** Run completion `spec`: processed in the VC's mailbox, after the request it completes has returned. */
export function complete<A>(
  core: NdisCore,
  spec: CompletionSpec<A>,
  status: NdisStatus,
  vcHandle: NdisVcHandle,
  args: A,
): void {
  const vc = core.vcOf(vcHandle, spec.name, spec.role);
  if (!vc) return;
  core.tr('complete-call', partyOf(vc, spec.caller), 'NDIS', spec.name, vc, status, spec.detail);
  if (spec.variant && !spec.variant(vc)) core.wrongVariant(vc, spec.name);
  if (status === NDIS_STATUS_PENDING) {
    core.flag(ruleCode(19), `${spec.name} ${spec.pendingText}`, vc);
    return;
  }
  vc.mailbox.post(() => {
    if (!spec.pending(vc)) {
      core.flag(ruleCode(20), `${spec.name} ${spec.without}`, vc);
      return;
    }
    spec.finish(core, vc, status, args, spec.name);
  });
}

const isMcm = (vc: VcRec): boolean => vc.mcm;
const isStandAlone = (vc: VcRec): boolean => !vc.mcm;

/** The NdisCm* / NdisMCm* pair of one request: same descriptor, each with its name and variant. */
export function twins<S extends { readonly name: string }>(
  spec: Omit<S, 'name' | 'variant'>,
  cmName: string,
  mcmName: string,
): { readonly cm: S; readonly mcm: S } {
  return {
    cm: { ...spec, name: cmName, variant: isStandAlone } as unknown as S,
    mcm: { ...spec, name: mcmName, variant: isMcm } as unknown as S,
  };
}
