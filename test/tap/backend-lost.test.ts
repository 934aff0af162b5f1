// A backend that disappears under traffic: `ip link del` on the TAP while frames are in flight.
// The device reports ERR_CONDIS_BACKEND_LOST, every send still completes (with a failure
// status), and nothing hangs or crashes.
import { describe, expect, it } from 'vitest';
import { FramePort, openTap } from '../../lib/device';
import type { CondisError } from '../../lib/errors';
import { TxStatus } from '../../lib/virtio/layout';
import { frame } from '../helpers/frames';
import { ifExists, ifName, quiet, sh } from '../helpers/host';
import { tapTestsEnabled } from '../helpers/privilege';
import { waitUntil } from '../helpers/wait';

const enabled = tapTestsEnabled('backend-lost');

describe.runIf(enabled)('TAP deleted under traffic', () => {
  it('reports the loss, completes every send, and closes cleanly', async () => {
    const n = ifName('ctd');
    const d = openTap({ name: n, queuePairs: 1, queueSize: 256 });
    quiet(n);
    const port = new FramePort(d, 0);
    d.onInterrupt = () => port.poll();
    port.postRx();
    const lost: CondisError[] = [];
    d.on('backendLost', (e) => lost.push(e));
    let deleted = false;
    const target = 20_000;
    await waitUntil(
      () => {
        while (port.sent < target && port.send(frame(64, port.sent))) {}
        port.flush();
        if (!deleted && port.sent > 2_000) {
          sh('ip', ['link', 'del', n]);
          deleted = true;
        }
        return port.sent === target && port.txDone + port.txFailed === target;
      },
      'every send to complete',
      20_000,
    );
    expect(ifExists(n)).toBe(false);
    await waitUntil(() => lost.length === 1, 'backendLost event');
    expect(lost[0]!.code).toBe('ERR_CONDIS_BACKEND_LOST');
    expect(port.txFailed).toBeGreaterThan(0);
    expect(port.txStatusCounts[TxStatus.BackendError]).toBe(port.txFailed);
    expect(port.txDone + port.txFailed).toBe(target);
    await d.close();
  });
});
