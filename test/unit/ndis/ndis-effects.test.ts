// The tables drive the runtime (spec §2.2, §2.5; lib/ndis/interpreter.ts): every transition the
// runtime takes runs exactly the effects its table declares, and nothing effect-like (a miniport
// activation or deactivation, a delete handler, the drain's stop bit) happens outside the
// effect that declares it. Drives the tables through the runtime with the conformance harness:
// the random interleavings of the property test (both handler modes, stand-alone CM and MCM) plus
// the failure paths they do not take (A8, A11, E57).
import fc from 'fast-check';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import {
  ACTIVATION_TABLE,
  type ActivationEffect,
  CALL_TABLE,
  Drain,
  makeCallParameters,
  NDIS_STATUS_FAILURE,
  NDIS_STATUS_NOT_ACCEPTED,
  NDIS_STATUS_SUCCESS,
  Trace,
  type TraceInput,
} from '../../../lib/ndis';
import { setInterpreterProbe } from '../../../lib/ndis/interpreter';
import { Harness, MODES_AND_MCM } from '../../conformance/harness';
import { op, runInterleaving } from '../../conformance/interleavings';

/** Driver handlers and drain moves that only an effect may cause, and the effect that may. */
const HANDLER_EFFECT: Record<string, ActivationEffect> = {
  MiniportCoActivateVc: 'callMiniportActivate',
  MiniportCoDeactivateVc: 'callMiniportDeactivate',
  MiniportCoDeleteVc: 'callDeleteHandlers',
  ProtocolCoDeleteVc: 'callDeleteHandlers',
};

interface Taken {
  key: string;
  declared: readonly string[];
  ran: string[];
  vetoed: boolean;
}

let stack: Taken[];
let effects: string[]; // effects running now, innermost last
let taken: Taken[];
let undeclared: string[];

function declared(axis: 'activation' | 'call', from: string, event: string): readonly string[] {
  const table = (axis === 'activation' ? ACTIVATION_TABLE : CALL_TABLE) as Record<
    string,
    Record<string, { effects?: readonly string[] }>
  >;
  return table[from]?.[event]?.effects ?? ['<no entry>'];
}

/** An effect-like move: fine only inside the effect that declares it. */
function effectLike(what: string, effect: string): void {
  if (effects[effects.length - 1] !== effect)
    undeclared.push(`${what} outside ${effect} (running: ${effects.join(',') || 'none'})`);
}

beforeEach(() => {
  stack = [];
  effects = [];
  taken = [];
  undeclared = [];
  setInterpreterProbe({
    begin: (axis, from, event, _next) => {
      stack.push({
        key: `${axis} ${from} --${event}-->`,
        declared: declared(axis, from, event),
        ran: [],
        vetoed: false,
      });
    },
    effect: (e, phase) => {
      if (phase === 'start') {
        stack[stack.length - 1]!.ran.push(e);
        effects.push(e);
      } else effects.pop();
    },
    end: (vetoed) => {
      const t = stack.pop()!;
      t.vetoed = vetoed;
      taken.push(t);
    },
  });
  const beginStop = Drain.prototype.beginStop;
  vi.spyOn(Drain.prototype, 'beginStop').mockImplementation(function (this: Drain) {
    effectLike('drain stop', 'stopSends');
    beginStop.call(this);
  });
  const resume = Drain.prototype.resume;
  vi.spyOn(Drain.prototype, 'resume').mockImplementation(function (this: Drain) {
    effectLike('drain resume', 'resumeSends');
    resume.call(this);
  });
  const record = Trace.prototype.record;
  vi.spyOn(Trace.prototype, 'record').mockImplementation(function (this: Trace, e: TraceInput) {
    const effect = e.kind === 'handler' ? HANDLER_EFFECT[e.name] : undefined;
    if (effect) effectLike(e.name, effect);
    record.call(this, e);
  });
});

afterEach(() => {
  setInterpreterProbe(undefined);
  vi.restoreAllMocks();
});

/** Every transition ran exactly its declared effects (a vetoed one, a prefix of them). */
function mismatches(): string[] {
  const bad: string[] = [];
  for (const t of taken) {
    const want = t.vetoed ? t.declared.slice(0, t.ran.length) : t.declared;
    if (t.ran.join(',') !== want.join(',')) bad.push(`${t.key} declared [${t.declared}] ran [${t.ran}]`);
  }
  return bad;
}

/** The failure paths the interleavings do not take. */
function failurePaths(mode: 'sync' | 'async', mcm: boolean): void {
  // A8: a failed re-activation keeps the old parameters; A11: a failed deactivation stays ACTIVE.
  const h = new Harness({ mode, mcm, verifier: 'report' });
  const vc = h.outgoingCall();
  if (!mcm) {
    h.mp.activateStatus = NDIS_STATUS_FAILURE;
    h.cm.activate(h.cm_(vc), makeCallParameters());
    h.settle();
    h.mp.activateStatus = NDIS_STATUS_SUCCESS;
    h.mp.deactivateStatus = NDIS_STATUS_FAILURE;
    h.cm.deactivate(h.cm_(vc));
    h.settle();
    h.mp.deactivateStatus = NDIS_STATUS_SUCCESS;
  }
  h.closeCall(vc);
  h.settle();
  // E57: the peer refuses the delete; the VC survives, then goes.
  h.cm.deleteStatus = NDIS_STATUS_NOT_ACCEPTED;
  h.ndis.coDeleteVc(vc);
  h.cm.deleteStatus = NDIS_STATUS_SUCCESS;
  h.ndis.coDeleteVc(vc);
  h.settle();
  // E43 over an MCM: NdisMCmDeactivateVc with a send still in the miniport (MCM_DEACTIVATE_UNDRAINED).
  if (mcm) {
    const busy = h.outgoingCall();
    h.send(busy, 2);
    h.ndis.mCmDeactivateVc(h.cm_(busy));
    h.mp.completeSends();
    h.settle();
  }
  // A failed initial activation (A5) on a fresh CM-created VC.
  if (!mcm) {
    const cmVc = h.createCmVc().vc!;
    h.mp.activateStatus = NDIS_STATUS_FAILURE;
    h.cm.activate(cmVc, makeCallParameters());
    h.settle();
  }
}

function driveAll(): void {
  const runs = fc.sample(fc.array(op, { maxLength: 60, size: 'max' }), { seed: 1010, numRuns: 60 });
  for (const [mode, mcm] of MODES_AND_MCM) {
    for (const ops of runs) runInterleaving(mode, mcm, ops);
    failurePaths(mode, mcm);
  }
}

describe('the tables drive the runtime (interpreter.ts)', () => {
  it('each transition runs exactly the effects its table declares, and no effect runs outside one', () => {
    driveAll();
    expect(taken.length).toBeGreaterThan(1000);
    expect(mismatches()).toEqual([]);
    expect(undeclared).toEqual([]);
  });

  /**
   * Call transitions these drives do not reach. The call table declares no effects (CallEffect is
   * never), so for them the first test's spies are the check: nothing effect-like may happen.
   */
  const CALL_NOT_DRIVEN = new Set([
    'call MAKING --MAKE_CALL_FAIL-->',
    'call OFFERED --MODIFY_QOS-->',
    'call OFFERED --MODIFY_QOS_DONE-->',
    'call ACCEPTED --CLOSE_CALL-->',
    'call CONNECTED --QOS_CHANGE_INDICATED-->',
    'call MODIFYING --INCOMING_CLOSE-->',
    'call MODIFYING --QOS_CHANGE_INDICATED-->',
    'call MODIFYING --CLOSE_CALL-->',
    'call CLOSE_INDICATED --MODIFY_QOS_DONE-->',
    'call CLOSING --MODIFY_QOS_DONE-->',
  ]);

  it('every activation transition is driven, and every declared effect runs', () => {
    driveAll();
    const seen = new Set(taken.map((t) => t.key));
    const missing: string[] = [];
    const declaredEffects = new Set<string>();
    for (const [axis, table] of [
      ['activation', ACTIVATION_TABLE],
      ['call', CALL_TABLE],
    ] as const) {
      for (const [from, row] of Object.entries(table)) {
        for (const [event, out] of Object.entries(
          row as Record<string, { refuse?: number; effects?: string[] }>,
        )) {
          if (out.refuse !== undefined) continue;
          for (const e of out.effects ?? []) declaredEffects.add(e);
          const key = `${axis} ${from} --${event}-->`;
          if (!seen.has(key) && !CALL_NOT_DRIVEN.has(key)) missing.push(key);
        }
      }
    }
    expect(missing).toEqual([]);
    const ran = new Set(taken.flatMap((t) => t.ran));
    expect([...declaredEffects].filter((e) => !ran.has(e))).toEqual([]);
  });

  it('records the activation of an outgoing call with the one effect INACTIVE --ACTIVATE--> declares', () => {
    const h = new Harness({ mode: 'sync' });
    h.outgoingCall();
    expect(taken.map((t) => t.key)).toContain('activation INACTIVE --ACTIVATE-->');
    expect(taken.find((t) => t.key === 'activation INACTIVE --ACTIVATE-->')!.ran).toEqual([
      'callMiniportActivate',
    ]);
  });
});
