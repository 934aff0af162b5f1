/**
 * The op interpreter of the interleavings property (property-interleavings.test.ts) and of the
 * regressions pinned from it (regressions/*.test.ts): random interleavings of calls, sends,
 * receives, returns, activations, deactivations, closes and deletes (both handler modes,
 * stand-alone CM and MCM) must keep the invariants of spec §2:
 * - every send completes exactly once at its sender;
 * - every non-RESOURCES receive comes back to the miniport exactly once, and before its VC's
 *   deactivation completes (checked at the instant the VC becomes INACTIVE);
 * - nothing reaches a miniport (send) or a protocol (receive) on a VC that is not active;
 * - the CM hears of a completed deactivation, and the client of a completed close, only after the
 *   sender has back every send that was in the miniport (E46); a close completes with SUCCESS
 *   only on an inactive VC (I2); no send completion on an inactive VC (I5); no handler called
 *   and nothing delivered for a VC once it is deleted;
 * - no state outside the tables; I1 (a connected call has an active VC);
 * - no verifier code beyond the breaks the random client may commit.
 * The simulated CM, MCM and miniport (harness.ts) are well-written drivers: a violation is the
 * runtime's fault or theirs, never a rule the ops break on purpose.
 */
import fc from 'fast-check';
import {
  ACTIVATION_STATES,
  CALL_STATES,
  makeCallParameters,
  NDIS_RECEIVE_FLAGS_RESOURCES,
  NDIS_STATUS_DEST_OUT_OF_ORDER,
  NDIS_STATUS_NOT_SUPPORTED,
  NDIS_STATUS_PENDING,
  NDIS_STATUS_SEND_ABORTED,
  NDIS_STATUS_SUCCESS,
  type NdisVcHandle,
  type NetBufferList,
  type TraceEvent,
} from '../../lib/ndis';
import { Harness, type Mode } from './harness';

export type Op =
  | { t: 'newOut' }
  | { t: 'newIn'; accept: boolean }
  | { t: 'send'; i: number; n: number }
  | { t: 'complete'; k: number; abort: boolean }
  | { t: 'indicate'; i: number; n: number; res: boolean }
  | { t: 'return'; k: number }
  | { t: 'close'; i: number }
  | { t: 'incomingClose'; i: number; ok: boolean }
  | { t: 'delete'; i: number }
  | { t: 'qos'; i: number }
  | { t: 'reactivate'; i: number }
  | { t: 'cmDeactivate'; i: number }
  | { t: 'sendsOnDeactivate'; finish: boolean }
  | { t: 'turns'; k: number }
  | { t: 'settle' };

const idx = fc.nat(7);
/** One random step. */
export const op: fc.Arbitrary<Op> = fc.oneof(
  fc.constant({ t: 'newOut' } as const),
  fc.record({ t: fc.constant('newIn' as const), accept: fc.boolean() }),
  fc.record({ t: fc.constant('send' as const), i: idx, n: fc.integer({ min: 1, max: 3 }) }),
  fc.record({ t: fc.constant('complete' as const), k: fc.integer({ min: 1, max: 4 }), abort: fc.boolean() }),
  fc.record({
    t: fc.constant('indicate' as const),
    i: idx,
    n: fc.integer({ min: 1, max: 3 }),
    res: fc.boolean(),
  }),
  fc.record({ t: fc.constant('return' as const), k: fc.integer({ min: 1, max: 4 }) }),
  fc.record({ t: fc.constant('close' as const), i: idx }),
  fc.record({ t: fc.constant('incomingClose' as const), i: idx, ok: fc.boolean() }),
  fc.record({ t: fc.constant('delete' as const), i: idx }),
  fc.record({ t: fc.constant('qos' as const), i: idx }),
  fc.record({ t: fc.constant('reactivate' as const), i: idx }),
  fc.record({ t: fc.constant('cmDeactivate' as const), i: idx }),
  fc.record({ t: fc.constant('sendsOnDeactivate' as const), finish: fc.boolean() }),
  fc.record({ t: fc.constant('turns' as const), k: fc.integer({ min: 1, max: 3 }) }),
  fc.constant({ t: 'settle' } as const),
);

/** Runs `ops` on a fresh harness; returns every invariant broken (empty: all held). */
export function runInterleaving(mode: Mode, mcm: boolean, ops: readonly Op[]): string[] {
  const h = new Harness({ mode, mcm, verifier: 'report' });
  const trace = h.ndis.trace!;
  const failures: string[] = [];
  const sendCompletions = new Map<NetBufferList, number>();
  const sent: NetBufferList[] = [];
  const sendSlot = new Map<NetBufferList, number>(); // every send -> its VC slot
  // E46 is about the sends of the era that a deactivation ends, not those of a re-activation
  // (A13) that may follow before its completion is delivered. Per slot: the sends that had
  // reached the miniport when the VC last became INACTIVE (for the close), and those of each
  // pended deactivation still to be delivered to the CM, oldest first.
  const drainedSends = new Map<number, NetBufferList[]>();
  const pendedDeactivation = new Set<number>();
  const deactivationEras = new Map<number, NetBufferList[][]>();
  for (const name of ['cmDeactivateVc', 'mCmDeactivateVc'] as const) {
    const call = h.ndis[name].bind(h.ndis);
    h.ndis[name] = (vc: NdisVcHandle) => {
      const slot = h.ndis.vcInfo(vc)?.slot;
      const st = call(vc);
      if (st === NDIS_STATUS_PENDING && slot !== undefined) pendedDeactivation.add(slot);
      return st;
    };
  }
  const rxSlot = new Map<NetBufferList, number>(); // non-RESOURCES receives -> VC slot
  const returnedToMp = new Map<NetBufferList, number>();
  const vcs: NdisVcHandle[] = []; // creator's handle of each live VC
  // Slots whose CM deactivated a connected call (spec §3.4 c): I1 is broken on purpose there
  // until the client closes.
  const cmDeactivated = new Set<number>();

  // Observe every trace event as it is recorded.
  const record = trace.record.bind(trace);
  trace.record = (e) => {
    record(e);
    const ev = trace.last() as TraceEvent;
    if (ev.kind === 'state') {
      if (!ACTIVATION_STATES.includes(ev.activation as never)) failures.push(`A=${ev.activation}`);
      if (!CALL_STATES.includes(ev.call as never)) failures.push(`C=${ev.call}`);
      const connected = ev.call === 'CONNECTED' || ev.call === 'MODIFYING';
      if (connected && !['ACTIVE', 'REACTIVATING'].includes(ev.activation!) && !cmDeactivated.has(ev.vc!))
        failures.push(`I1 broken on vc${ev.vc}: A=${ev.activation} C=${ev.call}`);
      if (ev.activation === 'INACTIVE') {
        const slot = ev.vc!;
        const era = h.mp.sent.filter((n) => sendSlot.get(n) === slot);
        drainedSends.set(slot, era);
        if (pendedDeactivation.delete(slot)) {
          const eras = deactivationEras.get(slot) ?? [];
          eras.push(era);
          deactivationEras.set(slot, eras);
        }
        for (const [vc, nbl] of h.mp.held) {
          if (h.ndis.vcInfo(vc)?.slot === slot)
            failures.push(`vc${slot} inactive with a send in the miniport`);
          void nbl;
        }
        for (const [nbl, s] of rxSlot) {
          if (s === slot && !returnedToMp.has(nbl))
            failures.push(`vc${slot} inactive with a receive not returned`);
        }
      }
    }
    if ((ev.kind === 'deliver' || ev.kind === 'handler') && ev.activation === 'DELETED')
      failures.push(`${ev.name} reached the ${ev.to} on vc${ev.vc} after its deletion`);
    if (ev.kind === 'deliver' && ev.status === 'SUCCESS') {
      // E46, and C1/I2 for the close: the CM (or the client, for its close) hears that the
      // deactivation or close completed only after the sender has every send that was in the miniport.
      const deactivated = ev.name === 'ProtocolCmDeactivateVcComplete';
      const closed = ev.name === 'ProtocolClCloseCallComplete';
      if (closed && ev.activation !== 'INACTIVE')
        failures.push(`I2 broken on vc${ev.vc}: close completed with A=${ev.activation}`);
      if (deactivated || closed) {
        const done = new Set(h.cl.completed);
        const era = deactivated ? deactivationEras.get(ev.vc!)?.shift() : drainedSends.get(ev.vc!);
        for (const nbl of era ?? [])
          if (!done.has(nbl))
            failures.push(`vc${ev.vc}: ${ev.name} before a send's completion reached the client`);
      }
    }
    if (ev.kind === 'complete-call' && ev.name === 'NdisMCoSendNetBufferListsComplete') {
      if (ev.activation === 'INACTIVE')
        failures.push(`send completion on vc${ev.vc} after its deactivation completed (I5)`);
    }
    if (ev.kind === 'handler' && ev.name === 'MiniportCoSendNetBufferLists') {
      if (ev.activation !== 'ACTIVE' && ev.activation !== 'REACTIVATING')
        failures.push(`send reached the miniport on vc${ev.vc} A=${ev.activation}`);
    }
    if (ev.kind === 'handler' && ev.name === 'ProtocolCoReceiveNetBufferLists') {
      if (ev.activation === 'INACTIVE' || ev.activation === 'ACTIVATING')
        failures.push(`receive reached the protocol on vc${ev.vc} A=${ev.activation}`);
    }
  };

  // Count per-NBL completions and returns.
  const clComplete = h.cl.protocolHandlers;
  void clComplete;
  const origReturn = h.mp.override.returnNetBufferLists;
  h.mp.override.returnNetBufferLists = (a, nbls, f) => {
    for (let p: NetBufferList | null = nbls; p; p = p.next)
      returnedToMp.set(p, (returnedToMp.get(p) ?? 0) + 1);
    origReturn?.(a, nbls, f);
  };

  const live = () => vcs.filter((v) => h.ndis.vcInfo(v) !== undefined);
  const pick = (i: number): NdisVcHandle | undefined => {
    const l = live();
    return l.length ? l[i % l.length] : undefined;
  };

  for (const o of ops) {
    switch (o.t) {
      case 'newOut': {
        const { vc } = h.createClientVc();
        if (vc) {
          vcs.push(vc);
          h.ndis.clMakeCall(vc, makeCallParameters());
        }
        break;
      }
      case 'newIn': {
        const { vc } = h.createCmVc();
        if (!vc) break;
        vcs.push(vc);
        h.cl.offerAnswer = o.accept ? NDIS_STATUS_SUCCESS : NDIS_STATUS_NOT_SUPPORTED;
        const st = h.cm.activate(vc, makeCallParameters());
        h.settle();
        if (st === NDIS_STATUS_SUCCESS || h.info(vc).activation === 'ACTIVE')
          h.cm.dispatchIncomingCall(vc, makeCallParameters());
        break;
      }
      case 'send': {
        const vc = pick(o.i);
        if (!vc) break;
        const cl = h.handles(vc).cl;
        if (!cl) break;
        const slot = h.info(vc).slot;
        for (const n of h.send(cl, o.n)) {
          sent.push(n);
          sendSlot.set(n, slot);
        }
        break;
      }
      case 'complete':
        h.mp.completeSends(
          o.abort ? NDIS_STATUS_SEND_ABORTED : NDIS_STATUS_SUCCESS,
          Math.min(o.k, h.mp.held.length),
        );
        break;
      case 'indicate': {
        const vc = pick(o.i);
        if (!vc) break;
        const info = h.info(vc);
        // A correct miniport indicates only on a VC it has active, or flushes receives it had
        // queued while its pended deactivation is not yet declared drained (E48 is tested on its own).
        const flushing = info.activation === 'DEACTIVATING' && h.mp.flushing.has(h.mp_(vc));
        if (info.activation !== 'ACTIVE' && info.activation !== 'REACTIVATING' && !flushing) break;
        const nbls = h.mp.indicate(h.mp_(vc), o.n, o.res ? NDIS_RECEIVE_FLAGS_RESOURCES : 0);
        if (!o.res) for (const n of nbls) rxSlot.set(n, info.slot);
        break;
      }
      case 'return':
        h.cl.returnReceives(Math.min(o.k, h.cl.heldRx.length));
        break;
      case 'close': {
        const vc = pick(o.i);
        const cl = vc && h.handles(vc).cl;
        if (cl && ['CONNECTED', 'CLOSE_INDICATED', 'ACCEPTED'].includes(h.info(vc).call))
          h.ndis.clCloseCall(cl);
        break;
      }
      case 'incomingClose': {
        const vc = pick(o.i);
        if (vc && ['CONNECTED', 'ACCEPTED'].includes(h.info(vc).call)) {
          h.cm.dispatchIncomingCloseCall(
            o.ok ? NDIS_STATUS_SUCCESS : NDIS_STATUS_DEST_OUT_OF_ORDER,
            h.cm_(vc),
          );
        }
        break;
      }
      case 'delete': {
        const vc = pick(o.i);
        if (!vc) break;
        const info = h.info(vc);
        if (info.creator === 'cm' && info.activation === 'ACTIVE' && info.call === 'IDLE')
          h.cm.deactivate(vc);
        else if (info.creator === 'cm') h.cm.deleteVc(vc);
        else h.ndis.coDeleteVc(vc);
        break;
      }
      case 'qos': {
        const vc = pick(o.i);
        const cl = vc && h.handles(vc).cl;
        if (cl && h.info(vc).call === 'CONNECTED') h.ndis.clModifyCallQoS(cl, makeCallParameters());
        break;
      }
      case 'reactivate': {
        const vc = pick(o.i);
        if (vc && h.info(vc).activation === 'ACTIVE') h.cm.activate(h.cm_(vc), makeCallParameters());
        break;
      }
      case 'cmDeactivate': {
        // Spec §3.4 (c): the CM can no longer carry the call: it deactivates, then (later) makes
        // the client close with a failure CloseStatus.
        const vc = pick(o.i);
        if (!vc || h.info(vc).call !== 'CONNECTED' || h.info(vc).activation !== 'ACTIVE') break;
        cmDeactivated.add(h.info(vc).slot);
        h.cm.deactivate(h.cm_(vc)); // the incoming close is a separate random step
        break;
      }
      case 'sendsOnDeactivate':
        // The miniport (or MCM) aborts what it holds when a deactivation begins, or lets it finish.
        h.mp.sendsOnDeactivate = o.finish ? 'finish' : 'abort';
        break;
      case 'turns':
        for (let k = 0; k < o.k; k++) h.sched.runNext();
        break;
      case 'settle':
        h.settle();
        break;
    }
  }

  // Quiesce: the miniport completes what it holds, the client returns what it holds.
  for (let round = 0; round < 10; round++) {
    h.settle();
    h.mp.completeSends(NDIS_STATUS_SUCCESS);
    h.cl.returnReceives();
    h.settle();
  }
  for (const n of h.cl.completed) sendCompletions.set(n, (sendCompletions.get(n) ?? 0) + 1);
  for (const n of sent)
    if (sendCompletions.get(n) !== 1) failures.push(`send completed ${sendCompletions.get(n) ?? 0} times`);
  for (const n of rxSlot.keys())
    if (returnedToMp.get(n) !== 1) failures.push(`receive returned ${returnedToMp.get(n) ?? 0} times`);
  // Breaks the random client may commit (close with sends out, sends on a closed CM VC, reuse
  // after a failed close); the runtime must still keep every invariant above.
  const allowed = new Set(['ERR_CONDIS_E31', 'ERR_CONDIS_E36', 'ERR_CONDIS_E37']);
  for (const code of h.violations()) if (!allowed.has(code)) failures.push(`violation ${code}`);
  for (const v of live()) {
    const i = h.info(v);
    if (i.txInMiniport !== 0 || i.rxHeld !== 0)
      failures.push(`vc${i.slot} counters ${i.txInMiniport}/${i.rxHeld}`);
  }
  return failures;
}
