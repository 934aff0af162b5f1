/**
 * What a person watching a node asks of it, through the control protocol (handleRequest, the
 * code the socket runs): `hold` (a call's receives kept until it closes, so the peer's RELEASE
 * finds them outstanding and the deactivation pends), `calls`' held/slot and `ended` rows, and
 * `trace` polled by `since`. Two node stacks (CondisNode.onDevice, the wiring `condis node` runs)
 * on the two ends of the in-process wire, as `condis bench calls`' wire path: no privilege.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { hostMac } from '../../lib/cluster/plan';
import { openWirePair } from '../../lib/device/open';
import type { TraceEvent } from '../../lib/ndis/trace';
import { handleRequest } from '../../lib/node/control';
import type { NodeEvent } from '../../lib/node/events';
import { CondisNode, ENDED_CALLS, type EndedCall, NODE_QUEUE_SIZE } from '../../lib/node/node';
import { resolveNodeOptions } from '../../lib/node/options';

interface Pair {
  a: CondisNode;
  b: CondisNode;
  events: { a: NodeEvent[]; b: NodeEvent[] };
}

const open: CondisNode[] = [];

/** Node A (caller) and B on a wire; `trace` per node. */
async function pair(trace: { a: boolean; b: boolean }): Promise<Pair> {
  const [da, db] = openWirePair({ queuePairs: 4, queueSize: NODE_QUEUE_SIZE });
  const opts = (i: number, t: boolean) =>
    resolveNodeOptions({
      tap: `obs${i}`,
      mac: hostMac(i),
      ip: `10.14.0.${i}/24`,
      control: '-',
      queuePairs: 4,
      // No enquiries: a test's frames on the wire are only its own.
      keepaliveMs: 0,
      trace: t,
    });
  const events = { a: [] as NodeEvent[], b: [] as NodeEvent[] };
  let a: CondisNode;
  try {
    a = await CondisNode.onDevice(da, opts(1, trace.a), (e) => events.a.push(e));
  } catch (e) {
    db.destroy();
    throw e;
  }
  open.push(a);
  const b = await CondisNode.onDevice(db, opts(2, trace.b), (e) => events.b.push(e));
  open.push(b);
  return { a, b, events };
}

/** A control request that must succeed. */
async function ok(n: CondisNode, req: Record<string, unknown>): Promise<Record<string, unknown>> {
  return handleRequest(n, req);
}

/** A control request that must fail: its coded error. */
async function fails(
  n: CondisNode,
  req: Record<string, unknown>,
): Promise<{ code: string; message: string }> {
  try {
    await handleRequest(n, req);
  } catch (e) {
    return e as { code: string; message: string };
  }
  throw new Error(`${JSON.stringify(req)} succeeded`);
}

/** Until `ready` holds, checking after each turn of the event loop (no timed assertion). */
async function until(ready: () => boolean, what: string): Promise<void> {
  for (let i = 0; i < 10_000; i++) {
    if (ready()) return;
    await new Promise((r) => setImmediate(r));
  }
  throw new Error(`never: ${what}`);
}

afterEach(async () => {
  const nodes = open.splice(0);
  await Promise.all(nodes.map((n) => n.stop()));
  for (const n of nodes) {
    expect(n.ndis.vcCount).toBe(0);
    expect(n.ndis.verifier.violations).toEqual([]);
  }
});

describe('condis node: hold, ended calls and trace over the control protocol (in-process wire)', () => {
  it("B holds its incoming call's receives: A's pings are answered; A's RELEASE finds them held and B's deactivation pends until its close gives them back", async () => {
    const { a, b, events } = await pair({ a: false, b: true });
    const made = await ok(a, { cmd: 'call', peer: b.opts.macText, sap: b.opts.sap });
    const aCall = made.call as number;
    await until(() => events.b.some((e) => e.event === 'callConnected'), 'B connected');
    const bCall = (events.b.find((e) => e.event === 'callConnected') as { call: number }).call;
    // A's gratuitous ARP reached B before the hold (B learned A's address from it): from the hold
    // on, A sends on the VC exactly what `ping` sends — one ARP request for B's address (the
    // pinger resolves the MAC once per request, call-pinger.ts), then the 5 echo requests — so B
    // holds 6 NBLs (one frame each). No keepalive (keepaliveMs 0: and it runs on the signalling
    // VC anyway), no other pair on the wire.
    const bc = b.client.call(bCall);
    await until(() => bc.peerIp !== null, "A's ARP at B");

    const held0 = await ok(b, { cmd: 'hold', call: bCall });
    expect(held0).toEqual({ call: bCall, held: 0 });
    const p = await ok(a, { cmd: 'ping', call: aCall, count: 5 });
    expect(p).toMatchObject({ sent: 5, received: 5 });

    const rowsB = (await ok(b, { cmd: 'calls' })).calls as Array<Record<string, unknown>>;
    const slotB = b.ndis.vcInfo(bc.vc)!.slot;
    expect(rowsB).toEqual([
      expect.objectContaining({ call: bCall, state: 'connected', held: 6, slot: slotB }),
    ]);
    expect(b.ndis.vcInfo(bc.vc)!.rxHeld).toBe(6);
    // hold again: still holding, the same NBLs.
    expect(await ok(b, { cmd: 'hold', call: bCall })).toEqual({ call: bCall, held: 6 });
    const rowsA = (await ok(a, { cmd: 'calls' })).calls as Array<Record<string, unknown>>;
    expect(rowsA).toEqual([expect.objectContaining({ call: aCall, held: 0 })]);
    expect((rowsA[0]!.slot as number) >= 0).toBe(true);

    const traceFrom = (await ok(b, { cmd: 'trace', since: 0 })).next as number;
    expect(await ok(a, { cmd: 'close', call: aCall })).toHaveProperty('drainMs');
    await until(() => events.b.some((e) => e.event === 'callClosed'), 'B closed');
    await until(() => b.client.calls.size === 0, "B's VC deleted");

    const endedA = (await ok(a, { cmd: 'calls' })).ended as EndedCall[];
    const endedB = (await ok(b, { cmd: 'calls' })).ended as EndedCall[];
    expect(endedA).toHaveLength(1);
    expect(endedB).toHaveLength(1);
    const ea = endedA[0]!;
    const eb = endedB[0]!;
    expect(ea).toMatchObject({
      call: aCall,
      dir: 'out',
      by: 'local',
      cause: 'SUCCESS',
      peer: b.opts.macText,
    });
    expect(eb).toMatchObject({ call: bCall, dir: 'in', by: 'peer', cause: 'SUCCESS', slot: slotB });
    expect(eb.vid).toBe(ea.vid);
    // B's deactivation began with the 6 held receives outstanding and completed once given back.
    expect(eb.deactivation).toMatchObject({ receives: 6, status: 'SUCCESS' });
    expect(eb.deactivation!.drainUs).toBeGreaterThan(0);
    expect(ea.deactivation).toMatchObject({ receives: 0, status: 'SUCCESS' });
    // The wire is lossless and every send of both was completed before the close (E31):
    // A's announcement, its ARP request and 5 echo requests reached B; B's announcement, its ARP
    // reply and 5 echo replies reached A.
    expect(ea.frames).toEqual({ sent: 7, received: 7 });
    expect(eb.frames).toEqual({ sent: ea.frames.received, received: ea.frames.sent });

    // B's trace: NdisCmDeactivateVc on B's slot, then, later, its pended completion.
    const tr = (await ok(b, { cmd: 'trace', since: traceFrom })).events as TraceEvent[];
    const deact = tr.findIndex((e) => e.name === 'NdisCmDeactivateVc' && e.vc === slotB && e.kind === 'call');
    expect(deact).toBeGreaterThanOrEqual(0);
    // Its return to the call manager (the next 'return' to it): PENDING, the receives were held.
    const ret = tr.findIndex((e, i) => i > deact && e.kind === 'return' && e.to === 'CallManager');
    expect(tr[ret]).toMatchObject({ vc: slotB, status: 'PENDING' });
    const done = tr.findIndex((e, i) => i > deact && e.name === 'ProtocolCmDeactivateVcComplete');
    expect(done).toBeGreaterThan(ret);
    expect(tr[done]).toMatchObject({ vc: slotB, status: 'SUCCESS' });
  });

  it('trace polled with since: no event twice, none missed; next is the last seq + 1', async () => {
    const { a, b } = await pair({ a: true, b: false });
    const first = await ok(a, { cmd: 'trace' });
    expect(first.enabled).toBe(true);
    const e1 = first.events as TraceEvent[];
    expect(e1.length).toBeGreaterThan(0);
    expect(e1[0]!.seq).toBe(0);
    expect(first.next).toBe(e1[e1.length - 1]!.seq + 1);
    expect(first.dropped).toBe(0);
    // Nothing new yet: an empty slice, next unchanged.
    expect(await ok(a, { cmd: 'trace', since: first.next })).toMatchObject({ events: [], next: first.next });
    const c = await ok(a, { cmd: 'call', peer: b.opts.macText, sap: b.opts.sap });
    await ok(a, { cmd: 'ping', call: c.call, count: 2 });
    const second = await ok(a, { cmd: 'trace', since: first.next, max: 5 });
    const e2 = second.events as TraceEvent[];
    expect(e2).toHaveLength(5);
    const third = await ok(a, { cmd: 'trace', since: second.next });
    const e3 = third.events as TraceEvent[];
    const seqs = [...e1, ...e2, ...e3].map((e) => e.seq);
    expect(seqs).toEqual(seqs.map((_, i) => i));
    expect(third.next).toBe(seqs.length);
    // The plain objects Trace records; time is the Ndis clock, performance.now() ms.
    expect(e3.some((e) => e.name === 'NdisClMakeCall')).toBe(true);
    expect(e3[0]).toEqual(expect.objectContaining({ kind: expect.any(String), from: expect.any(String) }));
    expect(e3[e3.length - 1]!.time).toBeLessThanOrEqual(performance.now());
    expect(await fails(a, { cmd: 'trace', since: -1 })).toMatchObject({ code: 'ERR_CONDIS_INVALID_ARG' });
  });

  it('trace on a node without --trace, hold on an unknown or closing call: coded errors', async () => {
    const { a, b } = await pair({ a: false, b: false });
    const t = await fails(a, { cmd: 'trace', since: 0 });
    expect(t.code).toBe('ERR_CONDIS_INVALID_ARG');
    expect(t.message).toMatch(/--trace/);
    expect(await fails(a, { cmd: 'hold', call: 99 })).toMatchObject({ code: 'ERR_CONDIS_NO_SUCH_CALL' });
    expect(await fails(a, { cmd: 'hold' })).toMatchObject({ code: 'ERR_CONDIS_NO_SUCH_CALL' });
    const c = await ok(a, { cmd: 'call', peer: b.opts.macText, sap: b.opts.sap });
    const closing = ok(a, { cmd: 'close', call: c.call });
    expect(await fails(a, { cmd: 'hold', call: c.call })).toMatchObject({ code: 'ERR_CONDIS_INVALID_STATE' });
    await closing;
  });

  it(`a local close of a held call gives the receives back first; ended keeps the last ${ENDED_CALLS} calls`, async () => {
    const { a, b } = await pair({ a: false, b: false });
    const n = ENDED_CALLS + 2;
    for (let i = 0; i < n; i++) {
      const c = await ok(a, { cmd: 'call', peer: b.opts.macText, sap: b.opts.sap });
      if (i === 0) {
        // A holds its own call and pings: the replies are held; its close returns them, drains.
        const ac = a.client.call(c.call);
        await ok(a, { cmd: 'hold', call: c.call });
        await until(() => ac.peerIp !== null, "B's ARP at A");
        expect(await ok(a, { cmd: 'ping', call: c.call, count: 3 })).toMatchObject({ received: 3 });
        expect(
          ((await ok(a, { cmd: 'calls' })).calls as Array<{ held: number }>)[0]!.held,
        ).toBeGreaterThanOrEqual(3);
      }
      await ok(a, { cmd: 'close', call: c.call });
    }
    const ended = (await ok(a, { cmd: 'calls' })).ended as EndedCall[];
    expect(ended).toHaveLength(ENDED_CALLS);
    expect(ended.map((e) => e.call)).toEqual(
      Array.from({ length: ENDED_CALLS }, (_, i) => n - ENDED_CALLS + 1 + i),
    );
    for (const e of ended) expect(e.deactivation).toMatchObject({ sends: 0, receives: 0, status: 'SUCCESS' });
    await until(() => b.client.calls.size === 0, "B's VCs deleted");
    expect(((await ok(b, { cmd: 'calls' })).ended as EndedCall[]).length).toBe(ENDED_CALLS);
  });
});
