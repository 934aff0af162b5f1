/**
 * `condis node` as real processes (issue 14, point 1): three nodes, each a child process with its
 * own TAP, inside a network namespace of this test's, the TAPs enslaved to one Linux bridge; all
 * driven through their control sockets. Calls both ways and between every pair at once, ping over
 * each call, RELEASE from either end, a SAP nobody registered, a VID already taken at the callee,
 * two pairs on one VID in the same broadcast domain, SIGTERM mid-call; and nothing left behind.
 * CI is root: these run there (tapTestsEnabled).
 */
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseMac } from '../../lib/device/options';
import { HostNamespace } from '../../lib/host/namespace';
import { type AnyNodeEvent, NodeProcess, type ReadyEvent } from '../../lib/node/child';
import { ControlClient } from '../../lib/node/control-client';
import { condisCommand } from '../../lib/node/spawn';
import { vidStart } from '../../lib/node/vid';
import { tapTestsEnabled } from '../helpers/privilege';

const enabled = tapTestsEnabled('condis node');

const tag = `cn${process.pid}`;
const nsName = `${tag}-nodes`;
const bridge = `${tag}br`.slice(0, 15);
const dir = enabled ? fs.mkdtempSync(path.join(os.tmpdir(), `${tag}-`)) : '';

interface Node {
  name: string;
  proc: NodeProcess;
  ready: ReadyEvent;
  ctl: ControlClient;
}

let ns: HostNamespace | null = null;
const nodes: Node[] = [];
const procs: NodeProcess[] = [];

/** Starts a node on TAP `<tag><suffix>` in the namespace and enslaves its TAP to the bridge. */
async function startNode(suffix: string, extra: string[] = []): Promise<Node> {
  const tap = `${tag}${suffix}`;
  const control = path.join(dir, `${suffix}.sock`);
  const proc = new NodeProcess(['--tap', tap, '--control', control, '--queue-pairs', '8', ...extra], nsName);
  procs.push(proc);
  const ready = await proc.ready();
  ns!.exec('ip', ['link', 'set', tap, 'master', bridge]);
  const ctl = await ControlClient.connect(ready.control);
  const n = { name: suffix, proc, ready, ctl };
  nodes.push(n);
  return n;
}

/** A request that must succeed; its reply. */
async function ok(n: Node, req: Record<string, unknown>): Promise<Record<string, unknown>> {
  const r = await n.ctl.request(req);
  if (!r.ok) throw new Error(`${n.name} ${JSON.stringify(req)}: ${JSON.stringify(r)}`);
  return r;
}

const isEvent =
  (event: string, fields: Record<string, unknown> = {}) =>
  (e: AnyNodeEvent): boolean =>
    e.event === event &&
    Object.entries(fields).every(([k, v]) => (e as unknown as Record<string, unknown>)[k] === v);

/** Makes a call a -> b; returns the caller's and the callee's call numbers and the VID. */
async function call(a: Node, b: Node, extra: Record<string, unknown> = {}) {
  const r = await ok(a, { cmd: 'call', peer: b.ready.mac, sap: 1, ...extra });
  const vid = r.vid as number;
  const inc = await b.proc.waitFor(isEvent('incomingCall', { vid, peer: a.ready.mac }), 'incomingCall');
  await b.proc.waitFor(isEvent('callConnected', { vid, dir: 'in' }), 'callConnected (callee)');
  await a.proc.waitFor(isEvent('callConnected', { call: r.call, dir: 'out' }), 'callConnected (caller)');
  return { out: r.call as number, in: (inc as unknown as { call: number }).call, vid };
}

async function ping(n: Node, callId: number, count: number) {
  const r = await ok(n, { cmd: 'ping', call: callId, count });
  expect(r.sent).toBe(count);
  expect(r.received).toBe(count);
  expect(r.rttUs).toHaveLength(count);
  return r;
}

beforeAll(async () => {
  if (!enabled) return;
  ns = HostNamespace.create(nsName);
  ns.exec('ip', ['link', 'set', 'lo', 'up']);
  ns.exec('ip', ['link', 'add', bridge, 'type', 'bridge']);
  ns.exec('ip', ['link', 'set', bridge, 'up']);
  // Three nodes at once: each child's start (tsx, the addon) is most of the time here.
  // B records its trace (--trace): the trace request through the CLI words is tested on it.
  await Promise.all([startNode('a'), startNode('b', ['--trace']), startNode('c')]);
  nodes.sort((x, y) => x.name.localeCompare(y.name));
}, 90_000);

afterAll(async () => {
  for (const n of nodes) n.ctl.close();
  // SIGTERM first (a clean stop), SIGKILL whatever is still running after it, by pid.
  await Promise.all(
    procs.map(async (p) => {
      const t = setTimeout(() => p.kill(), 15_000);
      await p.stop();
      clearTimeout(t);
    }),
  );
  ns?.destroy();
  if (dir) fs.rmSync(dir, { recursive: true, force: true });
}, 60_000);

describe.runIf(enabled)('condis node: calls between node processes over a Linux bridge', () => {
  it('A calls B and B calls A; ping over each call from both ends; each closed with RELEASE from either end', async () => {
    const [a, b] = nodes as [Node, Node];
    const ab = await call(a, b);
    const ba = await call(b, a);
    expect(ab.vid).not.toBe(ba.vid);
    await ping(a, ab.out, 3);
    await ping(b, ab.in, 2);
    await ping(b, ba.out, 3);
    await ping(a, ba.in, 2);
    const callsA = (await ok(a, { cmd: 'calls' })).calls as Array<Record<string, unknown>>;
    expect(callsA).toEqual(
      expect.arrayContaining([
        expect.objectContaining({
          call: ab.out,
          vid: ab.vid,
          peer: b.ready.mac,
          state: 'connected',
          dir: 'out',
        }),
        expect.objectContaining({
          call: ba.in,
          vid: ba.vid,
          peer: b.ready.mac,
          state: 'connected',
          dir: 'in',
        }),
      ]),
    );
    // The caller closes A->B; the callee closes B->A: RELEASE either way, both ends drained.
    const c1 = await ok(a, { cmd: 'close', call: ab.out });
    expect(typeof c1.drainMs).toBe('number');
    await b.proc.waitFor(
      isEvent('callClosed', { call: ab.in, by: 'peer', cause: 'SUCCESS' }),
      'callClosed at B',
    );
    await ok(a, { cmd: 'close', call: ba.in });
    await b.proc.waitFor(
      isEvent('callClosed', { call: ba.out, by: 'peer', cause: 'SUCCESS' }),
      'callClosed at B',
    );
    expect(a.proc.events.find(isEvent('callClosed', { call: ab.out, by: 'local' }))).toBeDefined();
    expect(a.proc.events.find(isEvent('callClosed', { call: ba.in, by: 'local' }))).toBeDefined();
    // Both nodes hold no call and only the signalling VC; the verifier saw nothing.
    for (const n of [a, b]) {
      const st = await ok(n, { cmd: 'status' });
      expect(st.calls).toBe(0);
      expect(st.vcs).toBe(1);
      expect(st.verifierViolations).toBe(0);
    }
  });

  it('a call to a SAP nobody registered fails with a coded cause; an unknown call is refused with its code', async () => {
    const [a, b] = nodes as [Node, Node];
    const r = await a.ctl.request({ cmd: 'call', peer: b.ready.mac, sap: 99 });
    expect(r).toMatchObject({ ok: false, code: 'ERR_CONDIS_CALL_FAILED', status: 'INVALID_SAP' });
    await a.proc.waitFor(isEvent('callFailed', { cause: 'INVALID_SAP' }), 'callFailed');
    expect(await a.ctl.request({ cmd: 'ping', call: 9999, count: 1 })).toMatchObject({
      ok: false,
      code: 'ERR_CONDIS_NO_SUCH_CALL',
    });
    expect(await a.ctl.request({ cmd: 'nonsense' })).toMatchObject({
      ok: false,
      code: 'ERR_CONDIS_INVALID_ARG',
    });
  });

  it('three nodes: a call between every pair at once, ping over each, all closed', async () => {
    const [a, b, c] = nodes as [Node, Node, Node];
    const pairs: Array<[Node, Node]> = [
      [a, b],
      [b, c],
      [c, a],
    ];
    const made = await Promise.all(pairs.map(([x, y]) => call(x, y)));
    expect(new Set(made.map((m) => m.vid)).size).toBe(3);
    await Promise.all(made.map((m, i) => ping(pairs[i]![0], m.out, 3)));
    await Promise.all(made.map((m, i) => ok(pairs[i]![0], { cmd: 'close', call: m.out })));
    for (const [i, m] of made.entries())
      await pairs[i]![1].proc.waitFor(isEvent('callClosed', { call: m.in, by: 'peer' }), 'callClosed');
  });

  it('a VID the callee already carries is refused (VC_NOT_AVAILABLE) and the caller moves to the next; two pairs share a VID, each node taking only its peer’s frames', async () => {
    const [a, b, c] = nodes as [Node, Node, Node];
    // Two pairs on one VID need four nodes (three always share one).
    const d = await startNode('d');
    const vid = 300;
    const cd = await call(c, d, { vid });
    // C carries VID 300: asked for it, C refuses.
    expect(await a.ctl.request({ cmd: 'call', peer: c.ready.mac, sap: 1, vid })).toMatchObject({
      ok: false,
      code: 'ERR_CONDIS_CALL_FAILED',
      status: 'VC_NOT_AVAILABLE',
    });
    // Picked by the node: C refuses the first VID of the A-C pair (D took it), A tries the next.
    const first = vidStart(parseMac(a.ready.mac), parseMac(c.ready.mac));
    const dc = await call(d, c, { vid: first });
    const ac = await call(a, c);
    expect(ac.vid).toBe(first === 4094 ? 2 : first + 1);
    expect(((await ok(a, { cmd: 'status' })).client as Record<string, number>).vidRetries).toBe(1);
    // A-B on VID 300 too, in the same broadcast domain as C-D: the bridge floods A's and B's
    // announcements (broadcast ARP) to C and D on VID 300, where their call's VC drops them.
    const ab = await call(a, b, { vid });
    await Promise.all([ping(a, ab.out, 3), ping(c, cd.out, 3), ping(d, cd.in, 2), ping(b, ab.in, 2)]);
    const foreign = async (n: Node, id: number) =>
      ((await ok(n, { cmd: 'calls' })).calls as Array<{ call: number; foreignFrames: number }>).find(
        (r) => r.call === id,
      )!.foreignFrames;
    expect(await foreign(c, cd.out)).toBeGreaterThanOrEqual(2);
    expect(await foreign(d, cd.in)).toBeGreaterThanOrEqual(2);
    for (const [n, id] of [
      [a, ab.out],
      [c, cd.out],
      [d, dc.out],
      [a, ac.out],
    ] as Array<[Node, number]>)
      await ok(n, { cmd: 'close', call: id });
    for (const n of [a, b, c, d]) expect((await ok(n, { cmd: 'status' })).verifierViolations).toBe(0);
  });

  it('a node holds at most queue pairs - 1 calls: one more, made or taken, fails with NDIS_STATUS_RESOURCES at both ends', async () => {
    const [a, b] = nodes as [Node, Node];
    // Two queue pairs: pair 0 is signalling, so one call.
    const e = await startNode('e', ['--queue-pairs', '2']);
    const first = await call(a, e);
    // Taken: e's miniport has no pair for the VC of B's SETUP; e refuses.
    expect(await b.ctl.request({ cmd: 'call', peer: e.ready.mac, sap: 1 })).toMatchObject({
      ok: false,
      code: 'ERR_CONDIS_CALL_FAILED',
      status: 'RESOURCES',
    });
    // Made: B accepts (it has pairs), e cannot activate its end; B's call closes with that cause.
    expect(await e.ctl.request({ cmd: 'call', peer: b.ready.mac, sap: 1 })).toMatchObject({
      ok: false,
      code: 'ERR_CONDIS_CALL_FAILED',
      status: 'RESOURCES',
    });
    await b.proc.waitFor(
      isEvent('callClosed', { peer: e.ready.mac, by: 'peer', cause: 'RESOURCES' }),
      'callClosed at B',
    );
    await ok(a, { cmd: 'close', call: first.out });
    await e.proc.waitFor(isEvent('callClosed', { call: first.in }), 'callClosed at e');
    // The pair is free again.
    const again = await call(e, a);
    await ping(e, again.out, 1);
    await ok(e, { cmd: 'close', call: again.out });
    for (const n of [a, b, e]) expect((await ok(n, { cmd: 'status' })).verifierViolations).toBe(0);
  });

  it('the CLI client prints the reply of a request to a running node', () => {
    const a = nodes[0]!;
    const { command, args } = condisCommand(['node', 'status', '--control', a.ready.control]);
    const out = execFileSync(command, args, { encoding: 'utf8' });
    expect(JSON.parse(out)).toMatchObject({ ok: true, tap: a.ready.tap, mac: a.ready.mac });
  });

  it("through the CLI words: B holds its incoming call, A pings and releases; B's ended row shows the held receives its drain waited for, and its trace (--trace, polled with --since) the pended NdisCmDeactivateVc", async () => {
    const [a, b] = nodes as [Node, Node];
    const cli = (...args: string[]) => {
      const { command, args: argv } = condisCommand(['node', ...args, '--control', b.ready.control]);
      return JSON.parse(execFileSync(command, argv, { encoding: 'utf8' })) as Record<string, unknown>;
    };
    // Not call(): its waitFor finds B's first incomingCall of that VID and peer, and an earlier
    // test's call A->B had the same VID (the VID's start is a hash of the two MACs).
    const seen = b.proc.events.length;
    const made = await ok(a, { cmd: 'call', peer: b.ready.mac, sap: 1 });
    const ab = { out: made.call as number, in: -1 };
    // B's row of it, once A's announcement reached B (B knows A's address): from then on A's
    // `ping` sends exactly one ARP request and its echo requests on the VC, which B holds.
    for (let i = 0; ab.in < 0; i++) {
      if (i === 2000) throw new Error("B never learned A's address on the call");
      const fresh = b.proc.events.slice(seen).find(isEvent('callConnected', { vid: made.vid, dir: 'in' })) as
        | { call: number }
        | undefined;
      const rows = (await ok(b, { cmd: 'calls' })).calls as Array<{ call: number; peerIp: string | null }>;
      if (fresh && rows.find((r) => r.call === fresh.call)?.peerIp) ab.in = fresh.call;
      else await new Promise((r) => setTimeout(r, 10));
    }
    expect(cli('hold', '--call', String(ab.in))).toEqual({ id: 1, ok: true, call: ab.in, held: 0 });
    await ping(a, ab.out, 3);
    const row = (cli('calls').calls as Array<{ call: number; held: number; slot: number }>).find(
      (r) => r.call === ab.in,
    )!;
    expect(row.held).toBe(4);
    const before = cli('trace');
    expect(before).toMatchObject({ ok: true, enabled: true });
    await ok(a, { cmd: 'close', call: ab.out });
    await b.proc.waitFor(isEvent('callClosed', { call: ab.in, by: 'peer' }), 'callClosed at B');
    const ended = (cli('calls').ended as Array<Record<string, unknown>>).find((e) => e.call === ab.in)!;
    expect(ended).toMatchObject({
      dir: 'in',
      by: 'peer',
      cause: 'SUCCESS',
      slot: row.slot,
      deactivation: { receives: 4, status: 'SUCCESS' },
    });
    const after = cli('trace', '--since', String(before.next));
    const ev = after.events as Array<{
      seq: number;
      kind: string;
      name: string;
      vc?: number;
      status?: string;
    }>;
    expect(ev[0]!.seq).toBe(before.next);
    const d = ev.findIndex((e) => e.kind === 'call' && e.name === 'NdisCmDeactivateVc' && e.vc === row.slot);
    expect(d).toBeGreaterThanOrEqual(0);
    expect(ev.find((e, i) => i > d && e.kind === 'return' && e.vc === row.slot)).toMatchObject({
      status: 'PENDING',
    });
    expect(ev.find((e, i) => i > d && e.name === 'ProtocolCmDeactivateVcComplete')).toMatchObject({
      vc: row.slot,
      status: 'SUCCESS',
    });
    // A node without --trace says how to get one.
    const { command, args } = condisCommand(['node', 'trace', '--control', a.ready.control]);
    let out = '';
    try {
      execFileSync(command, args, { encoding: 'utf8' });
    } catch (e) {
      out = (e as { stdout: string }).stdout;
    }
    expect(JSON.parse(out)).toMatchObject({ ok: false, code: 'ERR_CONDIS_INVALID_ARG' });
  });

  it('SIGTERM mid-call: the node releases its calls, exits 0 and removes its socket; its peer sees the close', async () => {
    const [a, , c] = nodes as [Node, Node, Node];
    const ca = await call(c, a);
    await ping(c, ca.out, 1);
    const exit = await c.proc.stop();
    expect(exit).toEqual({ code: 0, signal: null });
    const stopped = c.proc.events.at(-1)!;
    expect(stopped).toMatchObject({ event: 'stopped', signal: 'SIGTERM', calls: 1, verifierViolations: 0 });
    expect(c.proc.events.find(isEvent('callClosed', { call: ca.out, by: 'local' }))).toBeDefined();
    expect(fs.existsSync(c.ready.control)).toBe(false);
    await a.proc.waitFor(
      isEvent('callClosed', { call: ca.in, by: 'peer', cause: 'SUCCESS' }),
      'callClosed at A',
    );
    const callsA = (await ok(a, { cmd: 'calls' })).calls as unknown[];
    expect(callsA).toEqual([]);
  });

  it('its TAP deleted under it: the node reports backendLost on stderr, stops, removes its socket and exits 1', async () => {
    const f = await startNode('f');
    ns!.exec('ip', ['link', 'del', f.ready.tap]);
    expect(await f.proc.exited).toEqual({ code: 1, signal: null });
    expect(f.proc.stderr).toContain('"code":"ERR_CONDIS_BACKEND_LOST"');
    expect(f.proc.events.at(-1)).toMatchObject({ event: 'stopped' });
    expect(fs.existsSync(f.ready.control)).toBe(false);
    f.ctl.close();
    nodes.splice(nodes.indexOf(f), 1);
  });

  it('nothing is left: every node stops cleanly (shutdown request or SIGTERM), its TAP and socket go, the namespace is removed', async () => {
    for (const n of nodes) {
      // One asked over its socket, the others by SIGTERM.
      if (n.name === 'b') expect(await n.ctl.request({ cmd: 'shutdown' })).toMatchObject({ ok: true });
      n.ctl.close();
      const exit = await (n.name === 'b' ? n.proc.exited : n.proc.stop());
      expect(exit).toEqual({ code: 0, signal: null });
      expect(fs.existsSync(n.ready.control)).toBe(false);
    }
    const links = ns!.exec('ip', ['-o', 'link', 'show']);
    for (const n of nodes) expect(links).not.toContain(`${n.ready.tap}:`);
    ns!.destroy();
    expect(execFileSync('ip', ['netns', 'list'], { encoding: 'utf8' })).not.toContain(nsName);
    for (const p of procs) expect(p.running).toBe(false);
  });
});
