/**
 * The interpreter: the one place where a transition of vc-states.ts happens to a VC. It runs
 * every effect the table declares for the transition, each by its runner in EFFECT_RUNNERS
 * (a `Record<ActivationEffect, ...>`, so an effect declared without a runner does not compile),
 * and enters the next state. XState's shape: the table returns [next, effects]; the interpreter
 * performs them, so a declared effect cannot be forgotten and an undeclared one has no door in
 * (test/unit/ndis/ndis-effects.test.ts drives every transition and compares what ran with what
 * the tables declare).
 *
 * Order: 'before' effects run in the old state (bookkeeping on the drain and the parameters, and
 * the delete handlers, which may refuse: the VC survives, E57, and the transition is not taken);
 * then the VC enters the next state; then 'after' effects call the miniport, which therefore sees
 * its VC ACTIVATING / DEACTIVATING, as its completion will expect (spec §2.2 A3, A9).
 *
 * Sits under request.ts (which looks a request's transition up once and hands it here) and the
 * completion paths of vc-lifecycle.ts and calls.ts; above core.ts.
 */
import type { CoCallParameters } from './call-parameters';
import type { NdisCore } from './core';
import type { VcRec } from './registry';
import { NDIS_STATUS_SUCCESS, type NdisStatus } from './status';
import {
  type ActivationEffect,
  type ActivationEvent,
  type ActivationState,
  activationTransition,
  type CallEffect,
  type CallEvent,
  type CallState,
  callTransition,
  type Outcome,
} from './vc-states';

/** What effects read and write besides the VC. */
export interface EffectContext {
  /** The call parameters of the request (activations). */
  params: CoCallParameters | undefined;
  /** The status of the driver an effect called; a 'before' effect that sets a failure vetoes. */
  status: NdisStatus;
}

interface Runner {
  readonly when: 'before' | 'after';
  readonly run: (core: NdisCore, vc: VcRec, cx: EffectContext) => void;
}

/** One runner per declared effect (spec §2.2). */
export const EFFECT_RUNNERS: Record<ActivationEffect, Runner> = {
  /** The drain's stop bit: sends from now on complete with CLOSING, never reach the miniport (E47). */
  stopSends: { when: 'before', run: (_core, vc) => vc.drain.beginStop() },
  /** A new activation era, or a failed deactivation (A11). */
  resumeSends: { when: 'before', run: (_core, vc) => vc.drain.resume() },
  adoptParameters: {
    when: 'before',
    run: (_core, vc, cx) => {
      const params = cx.params;
      if (!params) return;
      vc.params = params;
      vc.lastActivated = params;
      vc.activationsOk++;
    },
  },
  /** Deactivation complete: the parameters are void (E50: not to be reused). */
  voidParameters: {
    when: 'before',
    run: (_core, vc) => {
      vc.voidedParams = vc.params;
      vc.params = undefined;
    },
  },
  /**
   * U3: the sharing peer's ProtocolCoDeleteVc first (it may refuse, E57: the VC survives), then
   * MiniportCoDeleteVc (not over an MCM, whose delete handler is its call manager's), then the
   * slot is free and the handles dead.
   */
  callDeleteHandlers: {
    when: 'before',
    run: (core, vc, cx) => {
      if (vc.af) {
        const st = core.callDelete(vc, vc.creator === 'client' ? 'cm' : 'client', 'ProtocolCoDeleteVc');
        if (st !== NDIS_STATUS_SUCCESS) {
          cx.status = st;
          return;
        }
      }
      if (!vc.mcm) core.callDelete(vc, 'miniport', 'MiniportCoDeleteVc');
      core.vcs.free(vc);
    },
  },
  /** MiniportCoActivateVc with the request's parameters; its status is the request's. */
  callMiniportActivate: {
    when: 'after',
    run: (core, vc, cx) => {
      const mp = vc.miniport;
      const params = cx.params!;
      cx.status = core.handler('Miniport', 'MiniportCoActivateVc', vc, () =>
        mp.handlers.coActivateVc ? mp.handlers.coActivateVc(vc.ctx.miniport, params) : NDIS_STATUS_SUCCESS,
      );
    },
  },
  /** MiniportCoDeactivateVc, once per deactivation era (E51). */
  callMiniportDeactivate: {
    when: 'after',
    run: (core, vc, cx) => {
      const mp = vc.miniport;
      cx.status = core.handler('Miniport', 'MiniportCoDeactivateVc', vc, () =>
        mp.handlers.coDeactivateVc ? mp.handlers.coDeactivateVc(vc.ctx.miniport) : NDIS_STATUS_SUCCESS,
      );
    },
  },
};

/** The call table declares no effects: each call request calls the one peer it names (request.ts). */
const CALL_RUNNERS: Record<CallEffect, Runner> = {};

/**
 * A watch on the interpreter, for tests (test/unit/ndis/ndis-effects.test.ts): told when a
 * transition begins (as the table declares it), of each effect as it starts and ends, and when the
 * transition ends (vetoed or taken). Transitions may nest (a driver called by an effect may make
 * a request on another VC). Control path only.
 */
export interface InterpreterProbe {
  begin(axis: 'activation' | 'call', from: string, event: string, next: string): void;
  effect(effect: string, phase: 'start' | 'end'): void;
  end(vetoed: boolean): void;
}
let probe: InterpreterProbe | undefined;

/** Install (or remove, with undefined) the interpreter's probe. Tests only. */
export function setInterpreterProbe(p: InterpreterProbe | undefined): void {
  probe = p;
}

function runEffects(
  core: NdisCore,
  vc: VcRec,
  effects: readonly ActivationEffect[],
  when: 'before' | 'after',
  cx: EffectContext,
): void {
  for (let i = 0; i < effects.length; i++) {
    const e = effects[i]!;
    const r = EFFECT_RUNNERS[e];
    if (r.when !== when) continue;
    probe?.effect(e, 'start');
    r.run(core, vc, cx);
    probe?.effect(e, 'end');
    if (when === 'before' && cx.status !== NDIS_STATUS_SUCCESS) return;
  }
}

/**
 * Take an activation transition the caller has looked up (and found not refused). Returns the
 * status of the driver an effect called (SUCCESS if none); a 'before' effect's failure leaves the
 * VC in its state.
 */
export function takeActivation(
  core: NdisCore,
  vc: VcRec,
  event: ActivationEvent,
  out: Outcome<ActivationState, ActivationEffect> & { next: ActivationState },
  cx: EffectContext,
): NdisStatus {
  cx.status = NDIS_STATUS_SUCCESS;
  probe?.begin('activation', vc.a, event, out.next);
  runEffects(core, vc, out.effects, 'before', cx);
  const vetoed = cx.status !== NDIS_STATUS_SUCCESS;
  if (!vetoed) {
    core.setA(vc, out.next);
    runEffects(core, vc, out.effects, 'after', cx);
  }
  probe?.end(vetoed);
  return cx.status;
}

/** Take a call transition (no effects are declared on the call axis; see CALL_RUNNERS). */
export function takeCall(
  core: NdisCore,
  vc: VcRec,
  event: CallEvent,
  out: Outcome<CallState, CallEffect> & { next: CallState },
): void {
  probe?.begin('call', vc.c, event, out.next);
  for (const e of out.effects) {
    probe?.effect(e, 'start');
    (CALL_RUNNERS[e] as Runner).run(core, vc, { params: undefined, status: NDIS_STATUS_SUCCESS });
    probe?.effect(e, 'end');
  }
  core.setC(vc, out.next);
  probe?.end(false);
}

/**
 * Apply an activation event that must be in the table (a completion: ACTIVATE_OK, DEACTIVATE_FAIL...).
 * A missing entry is a runtime bug, flagged as BAD_TRANSITION.
 */
export function applyA(core: NdisCore, vc: VcRec, event: ActivationEvent, params?: CoCallParameters): void {
  const out = activationTransition(vc.a, event);
  if (!out || out.refuse !== undefined) {
    core.badTransition(vc, event, 'internal');
    return;
  }
  takeActivation(core, vc, event, out, { params, status: NDIS_STATUS_SUCCESS });
}

/** Apply a call event that must be in the table (a completion: MAKE_CALL_OK, CLOSE_FAIL...). */
export function applyC(core: NdisCore, vc: VcRec, event: CallEvent): void {
  const out = callTransition(vc.c, event);
  if (!out || out.refuse !== undefined) {
    core.badTransition(vc, event, 'internal');
    return;
  }
  takeCall(core, vc, event, out);
}

/** A call event a completion applies only where the table has it (QoS done after a close began). */
export function applyCIfAny(core: NdisCore, vc: VcRec, event: CallEvent): void {
  const out = callTransition(vc.c, event);
  if (out && out.refuse === undefined) takeCall(core, vc, event, out);
}
