/**
 * What every run of `condis demo` / runDemo must show, checked the same way by the scenario's and
 * the CLI's tests: the SETUP/CONNECT-driven NDIS steps of BOTH nodes in a valid order, the pings
 * answered, B's deactivation under traffic with its drain time, the RELEASE that closed the call
 * and nothing left behind.
 */
import { expect } from 'vitest';
import { type DemoReport, HELD_PINGS } from '../../lib/scenarios/demo';
import { inOrder } from './in-order';

/** Whether `names` occur in `lines` in this order, each as a prefix of an entry (not adjacent). */
export function inSequence(lines: readonly string[], names: readonly string[]): boolean {
  return inOrder(lines, names, (entry, name) => entry.trim().startsWith(name));
}

/** The caller's NDIS steps (spec §3.1 outgoing call, §3.2 client-initiated close). */
export const CALLER_STEPS = [
  '# make the call',
  'NdisCoCreateVc -> SUCCESS',
  'NdisClMakeCall -> PENDING',
  'ProtocolCmMakeCall',
  // CONNECT arrived: the call manager activates its VC before the make-call completes (E21).
  'NdisCmActivateVc -> SUCCESS',
  'MiniportCoActivateVc -> SUCCESS',
  'NdisCmMakeCallComplete(SUCCESS)',
  'ProtocolClMakeCallComplete(SUCCESS)',
  '# ping over the VC',
  '# release under traffic',
  'NdisClCloseCall -> PENDING',
  'ProtocolCmCloseCall',
  // RELEASE COMPLETE arrived: only now the clearing side deactivates.
  'NdisCmDeactivateVc',
  'MiniportCoDeactivateVc',
  'NdisCmCloseCallComplete(SUCCESS)',
  'ProtocolClCloseCallComplete(SUCCESS)',
  'NdisCoDeleteVc -> SUCCESS',
  'MiniportCoDeleteVc -> SUCCESS',
];

/** The callee's (spec §3.8 incoming call, §3.3 network-initiated close), with the pended drain. */
export const CALLEE_STEPS = [
  '# make the call',
  // SETUP arrived: the call manager creates the VC with the client's AF and activates it.
  'NdisCoCreateVc -> SUCCESS',
  'ProtocolCoCreateVc -> SUCCESS',
  'NdisCmActivateVc -> SUCCESS',
  'MiniportCoActivateVc -> SUCCESS',
  'NdisCmDispatchIncomingCall -> SUCCESS',
  'ProtocolClIncomingCall -> SUCCESS',
  // CONNECT ACK arrived.
  'NdisCmDispatchCallConnected',
  'ProtocolClCallConnected',
  '# ping over the VC',
  '# release under traffic',
  // RELEASE arrived: the incoming close, and the deactivation at once, with the client holding
  // receives: it pends until the client's close (a turn later) gives them back.
  'NdisCmDispatchIncomingCloseCall(SUCCESS)',
  'ProtocolClIncomingCloseCall',
  'NdisCmDeactivateVc -> PENDING',
  'MiniportCoDeactivateVc',
  'NdisReturnNetBufferLists',
  'ProtocolCmDeactivateVcComplete(SUCCESS)',
  'NdisClCloseCall -> SUCCESS',
  'NdisCoDeleteVc -> SUCCESS',
  'MiniportCoDeleteVc -> SUCCESS',
];

/** Everything a passing demo report shows; `pings`: the paced pings asked for. */
export function expectDemoReport(r: DemoReport, pings: number): void {
  expect(r.call.status).toBe('SUCCESS');
  expect(r.call.vid).toBeGreaterThan(0);
  expect(r.pings.paced).toEqual({ sent: pings, answered: pings });
  // The pings while B held its receives: each answered (B answers, then keeps the request).
  const t = r.pings.underTraffic;
  expect(t).toEqual({ sent: HELD_PINGS, answered: HELD_PINGS });
  expect(r.frames.aToB.lost).toBe(0);
  expect(r.frames.bToA.lost).toBe(0);
  // A's frames: its announcement, an ARP request per ping command, the echo requests.
  expect(r.frames.aToB.received).toBeGreaterThanOrEqual(pings + t.sent);
  // B deactivated on RELEASE with those requests (and the ARP request before them) still held:
  // it pended, drained when B's client gave them back, and was timed.
  expect(r.deactivation).toMatchObject({ side: 'B', status: 'SUCCESS', pended: true });
  expect(r.deactivation.receivesHeld).toBeGreaterThanOrEqual(HELD_PINGS);
  expect(Number.isFinite(r.deactivation.drainUs) && r.deactivation.drainUs > 0).toBe(true);
  // A after RELEASE COMPLETE; RELEASE closed the call.
  expect(r.clearing).toMatchObject({ side: 'A', status: 'SUCCESS', close: 'SUCCESS' });
  expect(Number.isFinite(r.clearing.drainUs)).toBe(true);
  // The call's messages, once each (STATUS ENQUIRY / STATUS, the liveness of an Active call, come
  // only if the call lasted a keepalive period: not checked).
  expect(r.signalling.a).toMatchObject({
    SETUP: 1,
    CONNECT: 0,
    CONNECT_ACK: 1,
    RELEASE: 1,
    RELEASE_COMPLETE: 0,
  });
  expect(r.signalling.b).toMatchObject({
    SETUP: 0,
    CONNECT: 1,
    CONNECT_ACK: 0,
    RELEASE: 0,
    RELEASE_COMPLETE: 1,
  });
  expect(inSequence(r.sequence.a.lines, CALLER_STEPS), r.sequence.a.lines.join('\n')).toBe(true);
  expect(inSequence(r.sequence.b.lines, CALLEE_STEPS), r.sequence.b.lines.join('\n')).toBe(true);
  expect(r.callVcsLeft).toEqual({ a: 0, b: 0 });
  expect(r.verifierViolations).toBe(0);
}

/** The CLI's line per phase (call, ping, release), for a run with `pings` paced pings to `callee`. */
export function expectPhaseLines(stdout: string, callee: string, pings: number): void {
  expect(stdout).toMatch(
    new RegExp(
      `^call {8}A NdisClMakeCall to ${callee} SAP 1: SETUP, CONNECT, CONNECT ACK -> SUCCESS in \\d+\\.\\d{3} ms \\(VID \\d+;`,
      'm',
    ),
  );
  expect(stdout).toMatch(new RegExp(`^ping {8}${pings}/${pings} answered by B over the VC$`, 'm'));
  expect(stdout).toMatch(
    new RegExp(
      `^release {5}B holds its receives; A pings ${HELD_PINGS}/${HELD_PINGS} answered; A NdisClCloseCall: RELEASE$`,
      'm',
    ),
  );
  expect(stdout).toMatch(
    /^ {12}B NdisCmDeactivateVc on RELEASE: (\d+) receive\(s\) held, \d+ send\(s\) in flight -> pended, drained in \d+\.\d µs \(SUCCESS\)$/m,
  );
  const held = Number(/(\d+) receive\(s\) held/.exec(stdout)?.[1]);
  expect(held).toBeGreaterThanOrEqual(HELD_PINGS);
  expect(stdout).toMatch(
    /^ {12}RELEASE COMPLETE; A NdisCmDeactivateVc -> .* in \d+\.\d µs; A's close: SUCCESS in \d+\.\d{3} ms$/m,
  );
}
