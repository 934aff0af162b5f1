import type { CoCallParameters } from './call-parameters';
import type { NdisCore } from './core';
import type { VcRec } from './registry';
import type { NdisStatus } from './status';
import { type ActivationEvent, activationTransition, type CallEvent, callTransition } from './vc-states';

/** Apply an activation event that must be in the table, running its bookkeeping effects. */
export function applyA(core: NdisCore, vc: VcRec, event: ActivationEvent, params?: CoCallParameters): void {
  const out = activationTransition(vc.a, event);
  if (!out || out.refuse !== undefined) {
    core.badTransition(vc, event, 'internal');
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
  core.setA(vc, out.next);
}

export function applyC(core: NdisCore, vc: VcRec, event: CallEvent): void {
  const out = callTransition(vc.c, event);
  if (!out || out.refuse !== undefined) {
    core.badTransition(vc, event, 'internal');
    return;
  }
  core.setC(vc, out.next);
}

/** Run a client request's call-axis transition: undefined if applied, else the refusal status. */
export function callOutcome(
  core: NdisCore,
  vc: VcRec,
  event: CallEvent,
  name: string,
): NdisStatus | undefined {
  const out = callTransition(vc.c, event);
  if (!out) return core.badTransition(vc, event, name);
  if (out.refuse !== undefined) return out.refuse;
  core.setC(vc, out.next);
  return undefined;
}
