// close() drains, destroy() abandons, both idempotent; no fd or thread left after 1,000 cycles.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Worker } from 'node:worker_threads';
import { describe, expect, it } from 'vitest';
import { FramePort, openWirePair } from '../../lib/device';
import { frame } from '../helpers/frames';
import { waitUntil } from '../helpers/wait';

const fds = () => fs.readdirSync('/proc/self/fd').length;
const threads = () => fs.readdirSync('/proc/self/task').length;

describe('device lifecycle', () => {
  it('1,000 open/close cycles leave no fd or thread behind', async () => {
    // Warm up lazily created handles (the addon itself, libuv's async handles).
    for (let i = 0; i < 5; i++) {
      const [a, b] = openWirePair({ queuePairs: 1, queueSize: 8 });
      await a.close();
      b.destroy();
    }
    const fd0 = fds();
    const th0 = threads();
    for (let i = 0; i < 1000; i++) {
      const [a, b] = openWirePair({ queuePairs: 1, queueSize: 8 });
      if (i % 2 === 0) {
        await a.close();
        await b.close();
      } else {
        b.destroy();
        a.destroy();
      }
    }
    await waitUntil(() => threads() <= th0, 'device threads to exit');
    expect(fds()).toBe(fd0);
    expect(threads()).toBe(th0);
  });

  it('close() and destroy() are idempotent and never call back synchronously', async () => {
    const [a, b] = openWirePair();
    let resolved = false;
    const p = a.close().then(() => {
      resolved = true;
    });
    expect(resolved).toBe(false);
    expect(a.close()).toBe(a.close());
    await p;
    expect(resolved).toBe(true);
    a.destroy();
    b.destroy();
    b.destroy();
    await b.close();
    expect(() => a.stats()).toThrow(expect.objectContaining({ code: 'ERR_CONDIS_DEVICE_CLOSED' }));
  });

  it('close() transmits what was posted; destroy() abandons it', async () => {
    const [a, b] = openWirePair({ queuePairs: 1, queueSize: 256 });
    const pa = new FramePort(a, 0);
    const pb = new FramePort(b, 0);
    b.onInterrupt = () => pb.poll();
    pb.postRx();
    for (let i = 0; i < 200; i++) pa.send(frame(64, i));
    pa.flush();
    await a.close();
    await waitUntil(() => pb.received === 200, 'frames posted before close()');
    b.destroy();
  });

  it('a worker that exits with a device open shuts it down (env cleanup hook)', async () => {
    const th0 = threads();
    const code = `
      require('tsx/cjs');
      const { openWirePair } = require(${JSON.stringify(path.resolve(__dirname, '../../lib/device/index.ts'))});
      const [a, b] = openWirePair({ queuePairs: 2 });
      a.unref(); b.unref();
      require('node:worker_threads').parentPort.postMessage('open');
    `;
    const w = new Worker(code, { eval: true });
    await new Promise<void>((resolve, reject) => {
      w.once('message', () => resolve());
      w.once('error', reject);
    });
    await w.terminate();
    await waitUntil(() => threads() <= th0, 'worker and device threads gone');
    expect(threads()).toBeLessThanOrEqual(th0);
  });
});
