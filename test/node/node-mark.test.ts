/**
 * The node's `mark` request and the clock of its `trace` reply (what `condis demo` uses to put
 * its step headers into each node's trace and to merge two processes' traces in time order):
 * a mark is a note at the seq it returns; without --trace both refuse with a coded error; and
 * `time + monotonicOffsetMs` is CLOCK_MONOTONIC (process.hrtime), the one clock every process
 * of the machine shares. One node stack on one end of an in-process wire: no privilege.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { hostMac } from '../../lib/cluster/plan';
import type { Device } from '../../lib/device/device';
import { openWirePair } from '../../lib/device/open';
import type { TraceEvent } from '../../lib/ndis/trace';
import { handleRequest } from '../../lib/node/control';
import { CondisNode, NODE_QUEUE_SIZE } from '../../lib/node/node';
import { resolveNodeOptions } from '../../lib/node/options';

const made: { node: CondisNode; other: Device }[] = [];

async function node(trace: boolean): Promise<CondisNode> {
  const [d, other] = openWirePair({ queuePairs: 2, queueSize: NODE_QUEUE_SIZE });
  const opts = resolveNodeOptions({
    tap: 'mark1',
    mac: hostMac(1),
    ip: '10.14.0.1/24',
    control: '-',
    queuePairs: 2,
    keepaliveMs: 0,
    trace,
  });
  const n = await CondisNode.onDevice(d, opts, () => {});
  made.push({ node: n, other });
  return n;
}

afterEach(async () => {
  for (const m of made.splice(0)) {
    await m.node.stop();
    m.other.destroy();
  }
});

describe('condis node: mark and the trace clock', () => {
  it('a mark is a note in the trace at the seq it returns; events after it come later', async () => {
    const n = await node(true);
    const r = await handleRequest(n, { cmd: 'mark', text: 'step one' });
    const t = await handleRequest(n, { cmd: 'trace', since: r.seq as number });
    const events = t.events as TraceEvent[];
    expect(events[0]).toMatchObject({ seq: r.seq, kind: 'note', name: 'step one' });
    const r2 = await handleRequest(n, { cmd: 'mark', text: 'step two' });
    expect(r2.seq as number).toBeGreaterThan(r.seq as number);
  });

  it('time + monotonicOffsetMs is CLOCK_MONOTONIC: a mark stamped between two hrtime readings', async () => {
    const n = await node(true);
    const before = Number(process.hrtime.bigint()) / 1e6;
    const r = await handleRequest(n, { cmd: 'mark', text: 'now' });
    const after = Number(process.hrtime.bigint()) / 1e6;
    const t = await handleRequest(n, { cmd: 'trace', since: r.seq as number });
    const at = (t.events as TraceEvent[])[0]!.time + (t.monotonicOffsetMs as number);
    // The offset is read at a different instant than the stamp: allow its own rounding (µs).
    expect(at).toBeGreaterThanOrEqual(before - 0.01);
    expect(at).toBeLessThanOrEqual(after + 0.01);
  });

  it('without --trace, and with a bad text: coded refusals', async () => {
    const off = await node(false);
    await expect(handleRequest(off, { cmd: 'mark', text: 'x' })).rejects.toMatchObject({
      code: 'ERR_CONDIS_INVALID_ARG',
      message: expect.stringMatching(/--trace/),
    });
    const on = await node(true);
    for (const text of [undefined, '', 7, 'x'.repeat(201)])
      await expect(handleRequest(on, { cmd: 'mark', text })).rejects.toMatchObject({
        code: 'ERR_CONDIS_INVALID_ARG',
      });
  });
});
