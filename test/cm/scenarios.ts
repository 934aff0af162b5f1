/**
 * Call flows shared by the wire and TAP tests, for the stand-alone call manager and the MCM:
 * set a call up (spec §3.1 / §3.8), move frames with exact counts, and clear it from either side
 * with a deactivation that has held receives (and, on the wire, sends) in flight (§3.2 / §3.3).
 */
import { expect } from 'vitest';
import type { CmVc } from '../../lib/cm';
import { NDIS_STATUS_SUCCESS } from '../../lib/ndis';
import { waitUntil } from '../helpers/wait';
import { type ClientCall, type Endpoint, inOrder, params, traceOf } from './harness';

export interface Call {
  caller: Endpoint;
  callee: Endpoint;
  out: ClientCall;
  in: ClientCall;
}

/** The caller's client calls the callee on VC id `vid`; both ends end up connected. */
export async function establish(caller: Endpoint, callee: Endpoint, vid: number): Promise<Call> {
  const offers = callee.client.incoming.length;
  const { status, call } = await caller.client.makeCall(params(vid));
  expect(status).toBe(NDIS_STATUS_SUCCESS);
  await waitUntil(() => callee.client.incoming.length > offers, 'the incoming call');
  const inc = callee.client.incoming[callee.client.incoming.length - 1]!;
  await waitUntil(() => inc.connected === 1, 'ProtocolClCallConnected at the callee');
  expect(caller.ndis.vcInfo(call.vc)).toMatchObject({ activation: 'ACTIVE', call: 'CONNECTED' });
  expect(callee.ndis.vcInfo(inc.vc)).toMatchObject({
    activation: 'ACTIVE',
    call: 'CONNECTED',
    creator: 'cm',
  });
  return { caller, callee, out: call, in: inc };
}

/** `n` frames from `from` to `to` on the call, seq from `seq`: every one arrives, in order, and completes. */
export async function carry(
  from: Endpoint,
  fromCall: ClientCall,
  toCall: ClientCall,
  n: number,
  seq: number,
): Promise<void> {
  const rx = toCall.rxFrames;
  const done = fromCall.completed;
  from.client.sendFrames(fromCall, n, seq);
  await waitUntil(() => toCall.rxFrames === rx + n && fromCall.completed === done + n, `${n} frames`);
  expect(toCall.rxSeqs.slice(rx)).toEqual(Array.from({ length: n }, (_, i) => seq + i));
  expect(fromCall.status('SUCCESS')).toBe(fromCall.completed);
}

/** Both ends' view of one side of a call. */
function sides(call: Call, closer: 'caller' | 'callee') {
  return closer === 'caller'
    ? { a: call.caller, aCall: call.out, b: call.callee, bCall: call.in }
    : { a: call.callee, aCall: call.in, b: call.caller, bCall: call.out };
}

/** From the drain's last return to the client's close completion (spec §3.2 / §3.4). */
function drainNames(ep: Endpoint): string[] {
  return ep.kind === 'cm'
    ? [
        'NdisReturnNetBufferLists',
        'MiniportReturnNetBufferLists',
        'NdisMCoDeactivateVcComplete:SUCCESS',
        'ProtocolCmDeactivateVcComplete:SUCCESS',
        'NdisCmCloseCallComplete:SUCCESS',
        'ProtocolClCloseCallComplete:SUCCESS',
      ]
    : [
        // The MCM drains on its NIC first; NDIS hears of the deactivation once it is done (§3.4).
        'NdisReturnNetBufferLists',
        'MiniportReturnNetBufferLists',
        'NdisMCmDeactivateVc',
        'NdisMCmCloseCallComplete:SUCCESS',
        'ProtocolClCloseCallComplete:SUCCESS',
      ];
}

/** How a deactivation begins as NDIS sees it (nothing for an MCM: it drains internally first). */
function deactivationStart(ep: Endpoint): string[] {
  return ep.kind === 'cm' ? ['NdisCmDeactivateVc', 'MiniportCoDeactivateVc'] : [];
}

/** After a close: the VCs are gone on both hosts, every NBL accounted for, every buffer back. */
async function afterClose(call: Call, contexts: readonly CmVc[]): Promise<void> {
  for (const [ep, c] of [
    [call.caller, call.out],
    [call.callee, call.in],
  ] as const) {
    await waitUntil(() => ep.ndis.vcInfo(c.vc) === undefined, 'the VC deleted');
    expect(c.closeStatus).toBe(NDIS_STATUS_SUCCESS);
    expect(c.completed).toBe(c.given);
    expect(c.returned).toBe(c.rxFrames);
  }
  // Neither call manager keeps a context of the call's VC.
  expect(contexts.every((v) => v !== undefined)).toBe(true);
  expect(call.caller.cm.vcs.has(contexts[0]!)).toBe(false);
  expect(call.callee.cm.vcs.has(contexts[1]!)).toBe(false);
  // The callee's VC was the call manager's: it deleted it (the client saw ProtocolCoDeleteVc).
  expect(call.in.deletedByCm).toBe(true);
  expect(call.out.deletedByCm).toBe(false);
}

/**
 * Client-initiated close (spec §3.2) on the `closer` side, whose deactivation begins with `held`
 * receives held by its client. (Its own sends must all be back before NdisClCloseCall, spec
 * §1.2-G; E31 flags a close with sends outstanding.) The deactivation pends, the close with it,
 * until the receives come back; the trace follows §3.2.
 */
export async function clientCloseWithHeldReceives(
  call: Call,
  closer: 'caller' | 'callee',
  held: number,
  seq: number,
): Promise<void> {
  const { a, aCall, b, bCall } = sides(call, closer);
  const contexts = [call.caller.cm.vcFor(call.out.vc)!, call.callee.cm.vcFor(call.in.vc)!];
  aCall.hold = true;
  await carry(b, bCall, aCall, held, seq);
  expect(aCall.held.length).toBe(held);
  await carry(a, aCall, bCall, 20, seq + 1000);
  const before = [
    a.cm.stats.sent.RELEASE,
    a.cm.stats.received.RELEASE_COMPLETE,
    b.cm.stats.received.RELEASE,
    b.cm.stats.sent.RELEASE_COMPLETE,
  ];
  const closing = a.client.closeCall(aCall);
  let settled = false;
  void closing.then(() => (settled = true));
  // RELEASE -> the peer clears (§3.3) -> RELEASE COMPLETE -> our deactivation begins.
  await waitUntil(() => a.drain(aCall).pending, 'the closer deactivating');
  expect(a.drain(aCall)).toEqual({ pending: true, txInFlight: 0, rxHeld: held });
  await waitUntil(() => bCall.closeStatus !== undefined, "the peer's close");
  expect(bCall.incomingClose).toEqual([NDIS_STATUS_SUCCESS]);
  // Nothing else can end the drain: it waits for the receives.
  await new Promise((r) => setTimeout(r, 20));
  expect(settled).toBe(false);
  expect(a.drain(aCall).pending).toBe(true);
  expect(a.client.returnHeld(aCall)).toBe(held);
  expect(await closing).toBe(NDIS_STATUS_SUCCESS);
  const names = traceOf(a.ndis, aCall.slot);
  expect(
    inOrder(names, ['NdisClCloseCall', 'ProtocolCmCloseCall', ...deactivationStart(a), ...drainNames(a)]),
  ).toBe(true);
  if (a.kind === 'mcm') expect(names.filter((n) => n.startsWith('MiniportCoDeactivateVc'))).toEqual([]);
  // One RELEASE, one RELEASE COMPLETE: no timer was needed.
  expect([
    a.cm.stats.sent.RELEASE,
    a.cm.stats.received.RELEASE_COMPLETE,
    b.cm.stats.received.RELEASE,
    b.cm.stats.sent.RELEASE_COMPLETE,
  ]).toEqual(before.map((n) => n + 1));
  await afterClose(call, contexts);
}

/**
 * Network-initiated close (spec §3.3) on the `closer`'s peer: its deactivation begins, at RELEASE,
 * with `held` receives held by its client and `inFlight` sends in its miniport (stalled on the
 * wire: the closer's client holds every receive buffer of its end). The peer's client answers the
 * incoming close once its sends are back; the close pends on the deactivation, which completes
 * only when the held receives are returned. Wire backend only (a TAP does not stall senders).
 */
export async function networkCloseWithSendsAndHeldReceives(
  call: Call,
  closer: 'caller' | 'callee',
  held: number,
  inFlight: number,
  seq: number,
): Promise<void> {
  const { a, aCall, b, bCall } = sides(call, closer);
  const contexts = [call.caller.cm.vcFor(call.out.vc)!, call.callee.cm.vcFor(call.in.vc)!];
  bCall.hold = true;
  await carry(a, aCall, bCall, held, seq);
  // The closer holds every receive buffer of its end; the peer's further sends stall on the wire.
  const ring = a.adapter.vcFor(aCall.vc)!.pair!.rxPool.capacity;
  aCall.hold = true;
  const given = bCall.given;
  b.client.sendFrames(bCall, ring + inFlight, seq + 1000);
  await waitUntil(
    () => aCall.held.length === ring && bCall.completed === given + ring,
    'the closer holding a full ring',
  );
  expect(b.ndis.vcInfo(bCall.vc)!.txInMiniport).toBe(inFlight);
  // The closer closes with no send of its own outstanding (it holds receives: allowed).
  const aRx = aCall.rxFrames;
  const closing = a.client.closeCall(aCall);
  await waitUntil(() => b.drain(bCall).pending, "the peer's deactivation");
  expect(b.drain(bCall)).toEqual({ pending: true, txInFlight: inFlight, rxHeld: held });
  expect(bCall.incomingClose).toEqual([NDIS_STATUS_SUCCESS]);
  expect(bCall.closing).toBeUndefined(); // its sends are not back yet
  // The closer (still active until RELEASE COMPLETE) gives its buffers back: the stalled sends go.
  expect(a.client.returnHeld(aCall)).toBe(ring);
  await waitUntil(() => bCall.completed === bCall.given, "the peer's sends completed during the drain");
  await waitUntil(() => bCall.closing !== undefined, "the peer's NdisClCloseCall");
  await new Promise((r) => setTimeout(r, 20));
  expect(b.drain(bCall)).toEqual({ pending: true, txInFlight: 0, rxHeld: held });
  expect(bCall.closeStatus).toBeUndefined();
  expect(b.client.returnHeld(bCall)).toBe(held);
  expect(await bCall.closing).toBe(NDIS_STATUS_SUCCESS);
  expect(await closing).toBe(NDIS_STATUS_SUCCESS);
  // The stalled frames reached the closer after it closed: NDIS gave them back to its miniport (U5).
  expect(aCall.rxFrames).toBe(aRx);
  const names = traceOf(b.ndis, bCall.slot);
  const dispatch =
    b.kind === 'cm' ? 'NdisCmDispatchIncomingCloseCall:SUCCESS' : 'NdisMCmDispatchIncomingCloseCall:SUCCESS';
  expect(
    inOrder(names, [
      dispatch,
      'ProtocolClIncomingCloseCall',
      ...deactivationStart(b),
      'NdisMCoSendNetBufferListsComplete',
      'ProtocolCoSendNetBufferListsComplete',
      'NdisClCloseCall',
      'ProtocolCmCloseCall',
      ...drainNames(b),
    ]),
  ).toBe(true);
  expect(bCall.status('SUCCESS')).toBe(bCall.given);
  await afterClose(call, contexts);
}
