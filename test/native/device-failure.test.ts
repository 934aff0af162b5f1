// No silent death: when the device's I/O thread must stop, the device says so — a 'deviceFailed'
// event with ERR_CONDIS_DEVICE_FAILED, stats().threadFailures, every send completed with a failure
// status (those in flight, those posted after) — and the miniport aborts its VCs' drains as for a
// lost backend. Issue 9: the thread returned silently when epoll_wait failed; the device looked
// alive and moved nothing.
//
// The failure is real: Device.testBreakEpoll() (test-only, lib/native.ts) puts /dev/null where the
// thread's epoll descriptor was, so its next epoll call fails with EINVAL.
import { afterEach, describe, expect, it } from 'vitest';
import type { Device } from '../../lib/device/device';
import { openTap, openWirePair } from '../../lib/device/open';
import { FramePort } from '../../lib/device/port';
import type { CondisError } from '../../lib/errors';
import { condisCallParameters, type MiniportAdapter, type MiniportVc, VcState } from '../../lib/miniport';
import { NDIS_STATUS_PENDING, NDIS_STATUS_REQUEST_ABORTED, NDIS_STATUS_SUCCESS } from '../../lib/ndis';
import { TxStatus } from '../../lib/virtio/layout';
import { frame, taggedHex } from '../helpers/frames';
import { ifName, packetSend, quiet, shQuiet } from '../helpers/host';
import { tapTestsEnabled } from '../helpers/privilege';
import { waitUntil } from '../helpers/wait';
import { makeRig, type Rig, TestClient } from '../miniport/harness';

let open: Device[] = [];
let tap = '';
afterEach(() => {
  for (const d of open) d.destroy();
  open = [];
  if (tap) shQuiet('ip', ['link', 'del', tap]);
  tap = '';
});

/** `p`, or a failure naming `what` after `ms` (a hang shows as what hung, not a test timeout). */
function within<T>(p: Promise<T>, what: string, ms = 5000): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<T>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: not within ${ms} ms`)), ms);
  });
  return Promise.race([p, late]).finally(() => clearTimeout(timer));
}

/** Collects the device's 'deviceFailed' events. */
function failures(d: Device): CondisError[] {
  const got: CondisError[] = [];
  d.on('deviceFailed', (e) => got.push(e));
  return got;
}

function expectDeviceFailed(events: CondisError[], d: Device): void {
  expect(events).toHaveLength(1);
  const e = events[0]!;
  expect(e.code).toBe('ERR_CONDIS_DEVICE_FAILED');
  expect(['epoll_wait', 'epoll_ctl']).toContain(e.syscall);
  expect(e.errno).toBe(-22); // EINVAL: /dev/null is no epoll instance
  expect(e.message).toMatch(/I\/O thread stopped/);
  expect(d.stats().threadFailures).toBe(1);
}

describe('a device whose I/O thread fails (wire)', () => {
  it('reports it, completes every send in flight and every later one with DeviceFailed, and its peer sees it gone; close works after', async () => {
    const [a, b] = openWirePair({ queuePairs: 1, queueSize: 64 });
    open.push(a, b);
    const pa = new FramePort(a, 0);
    const pb = new FramePort(b, 0);
    a.onInterrupt = () => pa.poll();
    b.onInterrupt = () => pb.poll();
    const events = failures(a);
    // b posts no receive buffers: a's 40 sends stall in its transmit ring, in flight.
    for (let i = 0; i < 40; i++) expect(pa.send(frame(64, i))).toBe(true);
    pa.flush();
    // And b's 10 sends wait for a's receive buffers (none posted either).
    for (let i = 0; i < 10; i++) expect(pb.send(frame(64, i))).toBe(true);
    pb.flush();
    await new Promise((r) => setTimeout(r, 50));
    expect(pa.txDone + pa.txFailed).toBe(0);
    expect(a.stats().threadFailures).toBe(0);

    a.testBreakEpoll();
    await waitUntil(() => events.length === 1 && pa.txFailed === 40, 'the failure and 40 failed sends');
    expectDeviceFailed(events, a);
    expect(pa.txStatusCounts[TxStatus.DeviceFailed]).toBe(40);
    expect(pa.txDone).toBe(0);
    // b's stalled sends learn that a is gone.
    await waitUntil(() => pb.txFailed === 10, "b's stalled sends");
    expect(pb.txStatusCounts[TxStatus.PeerGone]).toBe(10);

    // Sends posted after the thread died complete too (in the kick), several rounds.
    for (let round = 0; round < 3; round++) {
      for (let i = 0; i < 20; i++) expect(pa.send(frame(64, 100 + i))).toBe(true);
      pa.flush();
      await waitUntil(
        () => pa.txFailed === 40 + 20 * (round + 1),
        `round ${round} of sends after the failure`,
      );
    }
    expect(pa.txStatusCounts[TxStatus.DeviceFailed]).toBe(100);
    // Nothing reaches a any more, even with buffers posted; b's sends fail at once.
    pa.postRx();
    for (let i = 0; i < 5; i++) pb.send(frame(64, 50 + i));
    pb.flush();
    await waitUntil(() => pb.txFailed === 15, "b's later sends");
    expect(pa.received).toBe(0);
    expect(events).toHaveLength(1);
    expect(() => a.testBreakEpoll()).toThrow(expect.objectContaining({ code: 'ERR_CONDIS_INVALID_STATE' }));
    // close() (draining) does not wait out its deadline on a thread that is gone; destroy() works.
    const t0 = Date.now();
    await a.close(5000);
    expect(Date.now() - t0).toBeLessThan(2000);
    b.destroy();
    expect(a.closed && b.closed).toBe(true);
  });
});

const tapEnabled = tapTestsEnabled('device-failure');

describe.runIf(tapEnabled)('a device whose I/O thread fails (TAP)', () => {
  it('reports it, completes every send (none hangs), and close works after', async () => {
    tap = ifName('ctf');
    const d = openTap({ name: tap, queuePairs: 1, queueSize: 64 });
    open.push(d);
    quiet(tap);
    const p = new FramePort(d, 0);
    d.onInterrupt = () => p.poll();
    p.postRx();
    const events = failures(d);
    // Posted together with the failure: each completes, sent or failed, none waits.
    for (let i = 0; i < 32; i++) p.send(frame(64, i));
    p.flush();
    d.testBreakEpoll();
    for (let i = 0; i < 32; i++) p.send(frame(64, 100 + i));
    p.flush();
    await waitUntil(
      () => events.length === 1 && p.txDone + p.txFailed === 64,
      'the failure and 64 completions',
    );
    expectDeviceFailed(events, d);
    expect(p.txStatusCounts[TxStatus.Sent]! + p.txStatusCounts[TxStatus.DeviceFailed]!).toBe(64);
    // After the failure, every send fails, in the kick.
    const failed0 = p.txFailed;
    for (let i = 0; i < 40; i++) expect(p.send(frame(64, 200 + i))).toBe(true);
    p.flush();
    await waitUntil(() => p.txFailed === failed0 + 40, 'sends after the failure');
    expect(p.txStatusCounts[TxStatus.DeviceFailed]).toBe(p.txFailed);
    const t0 = Date.now();
    await d.close(5000);
    expect(Date.now() - t0).toBeLessThan(2000);
    d.destroy();
  });
});

/** Two clients on one miniport: VID 42 (stays active) and VID 43 (will be draining). */
function twoVcs(device: Device): { rig: Rig; c42: TestClient; c43: TestClient; aborts: CondisError[] } {
  const rig = makeRig(device);
  const c43 = new TestClient(rig.ndis, rig.adapter, 'client-43');
  const aborts: CondisError[] = [];
  rig.adapter.on('vcAbort', (e) => aborts.push(e));
  return { rig, c42: rig.client, c43, aborts };
}

function vcOf(adapter: MiniportAdapter, client: TestClient): MiniportVc {
  const vc = adapter.vcFor(client.vc);
  if (!vc) throw new Error('no miniport VC');
  return vc;
}

/**
 * The failure with one VC draining (held receives) and one active (held receives, sends in
 * flight or not): the drain is aborted with ERR_CONDIS_DEVICE_FAILED; the active VC's sends
 * complete FAILURE, its later deactivation is aborted the same way; every NBL is accounted for.
 */
async function failUnderTwoVcs(
  device: Device,
  { rig, c42, c43, aborts }: ReturnType<typeof twoVcs>,
  c42SendsInFlight: number,
): Promise<void> {
  const { cm, adapter } = rig;
  const events = failures(device);
  const deact43 = cm.deactivate(c43.vc);
  expect(deact43.status).toBe(NDIS_STATUS_PENDING);
  expect(vcOf(adapter, c43).state).toBe(VcState.Draining);

  device.testBreakEpoll();
  expect(await within(deact43.done, 'the draining VC to be aborted')).toBe(NDIS_STATUS_REQUEST_ABORTED);
  expectDeviceFailed(events, device);
  expect(aborts.map((e) => e.code)).toEqual(['ERR_CONDIS_DEVICE_FAILED']);
  expect(aborts[0]!.details.vid).toBe(43);
  // The active VC's sends in flight complete with a failure.
  await waitUntil(() => c42.completed === c42SendsInFlight, "VID 42's sends in flight");
  expect(c42.status('FAILURE')).toBe(c42SendsInFlight);
  // Its sends after the failure too, and nothing hangs.
  c42.sendFrames(10, 1000);
  await waitUntil(() => c42.completed === c42SendsInFlight + 10, "VID 42's sends after the failure");
  expect(c42.status('FAILURE')).toBe(c42SendsInFlight + 10);
  // Its deactivation (held receives outstanding) is aborted with the same code, as for a lost backend.
  const deact42 = cm.deactivate(c42.vc);
  expect(deact42.status).toBe(NDIS_STATUS_PENDING);
  expect(await within(deact42.done, 'the active VC deactivation to be aborted')).toBe(
    NDIS_STATUS_REQUEST_ABORTED,
  );
  expect(aborts.map((e) => e.code)).toEqual(['ERR_CONDIS_DEVICE_FAILED', 'ERR_CONDIS_DEVICE_FAILED']);
  expect(aborts[1]!.details.vid).toBe(42);
  // Every NBL accounted for; the calls close; the pools are whole; the device closes.
  for (const c of [c42, c43]) {
    c.returnHeld();
    expect(c.given).toBe(c.completed);
    expect(c.returned).toBe(c.rxFrames);
    expect(await c.closeAndDelete()).toBe(NDIS_STATUS_SUCCESS);
  }
  expect(adapter.poolCounts().free).toBe(adapter.poolCounts().capacity);
  await device.close();
}

describe('the miniport over a device whose I/O thread fails', () => {
  it('wire: a draining VC and an active one are aborted with ERR_CONDIS_DEVICE_FAILED; every NBL accounted for', async () => {
    const [a, b] = openWirePair({ queuePairs: 3, queueSize: 64 });
    open.push(a, b);
    const vcs = twoVcs(a);
    b.bindPair(1, 42);
    b.bindPair(2, 43);
    const p42 = new FramePort(b, 1); // posts no receive buffers: VID 42's sends stall, in flight
    const p43 = new FramePort(b, 2);
    b.onInterrupt = () => {
      p42.poll();
      p43.poll();
    };
    expect(await vcs.c42.connect(condisCallParameters(42))).toBe(NDIS_STATUS_SUCCESS);
    expect(await vcs.c43.connect(condisCallParameters(43))).toBe(NDIS_STATUS_SUCCESS);
    vcs.c42.hold = true;
    vcs.c43.hold = true;
    for (let i = 0; i < 4; i++) p42.send(frame(70, i));
    p42.flush();
    for (let i = 0; i < 6; i++) p43.send(frame(70, 10 + i));
    p43.flush();
    await waitUntil(() => vcs.c42.held.length === 4 && vcs.c43.held.length === 6, 'held receives');
    vcs.c42.sendFrames(20, 0);
    await new Promise((r) => setTimeout(r, 50));
    expect(vcs.c42.completed).toBe(0);
    await failUnderTwoVcs(a, vcs, 20);
  });

  describe.runIf(tapEnabled)('TAP', () => {
    it('a draining VC and an active one are aborted with ERR_CONDIS_DEVICE_FAILED; every NBL accounted for', async () => {
      tap = ifName('ctg');
      const d = openTap({ name: tap, queuePairs: 3, queueSize: 64 });
      open.push(d);
      quiet(tap);
      const vcs = twoVcs(d);
      expect(await vcs.c42.connect(condisCallParameters(42))).toBe(NDIS_STATUS_SUCCESS);
      expect(await vcs.c43.connect(condisCallParameters(43))).toBe(NDIS_STATUS_SUCCESS);
      vcs.c42.hold = true;
      vcs.c43.hold = true;
      packetSend(tap, taggedHex(70, 1, 42), 4);
      packetSend(tap, taggedHex(70, 2, 43), 6);
      await waitUntil(() => vcs.c42.held.length === 4 && vcs.c43.held.length === 6, 'held receives');
      // A TAP takes every frame at once: no send is left in flight before the failure here.
      await failUnderTwoVcs(d, vcs, 0);
    });
  });
});
