// The test-only transmit hold (Device.testHoldTx, lib/native.ts) that fault tests rely on to have
// sends in flight deterministically: while held, nothing posted on a transmit queue leaves the
// device, however long the test waits; released, everything held goes out at once.
import { afterEach, expect, it } from 'vitest';
import type { Device } from '../../lib/device/device';
import { openWirePair } from '../../lib/device/open';
import { FramePort } from '../../lib/device/port';
import { frame } from '../helpers/frames';
import { waitUntil } from '../helpers/wait';

let open: Device[] = [];
afterEach(() => {
  for (const d of open) d.destroy();
  open = [];
});

it('holds every transmit queue until released, then sends what it held', async () => {
  const [a, b] = openWirePair({ queuePairs: 1, queueSize: 64 });
  open.push(a, b);
  const tx = new FramePort(a, 0);
  const rx = new FramePort(b, 0);
  let got = 0;
  rx.onFrame = () => got++;
  b.onInterrupt = () => rx.poll();
  a.onInterrupt = () => tx.poll();
  rx.postRx();
  a.testHoldTx(true);
  for (let i = 0; i < 20; i++) expect(tx.send(frame(64, i))).toBe(true);
  tx.flush();
  await new Promise((r) => setTimeout(r, 100));
  expect(a.stats().pairs[0]!.txFrames).toBe(0);
  expect(got).toBe(0);
  a.testHoldTx(false);
  await waitUntil(() => got === 20, 'the held frames delivered after the release');
  expect(a.stats().pairs[0]!.txFrames).toBe(20);
});
