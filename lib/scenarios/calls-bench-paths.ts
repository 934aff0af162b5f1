/**
 * The two paths of `condis bench calls` (calls-bench.ts), each a pair of `condis node` stacks
 * (caller A, callee B) behind one small interface, so the measured loop is the same code for both:
 *
 *   hosts  a cluster of 2 hosts made with clusterUp (lib/cluster): two node processes in their own
 *          network namespaces, calls across each host's bridge and VXLAN over the veth underlay;
 *          driven through A's control socket (the node's `call` reply carries setupMs, `close`
 *          drainMs, both measured inside the node).
 *   wire   the same stack (CondisNode.onDevice: NDIS runtime, reference miniport, signalling call
 *          manager, node client) twice in this process, on the two ends of openWirePair; driven by
 *          calling CondisNode.call/close, the very methods the control socket runs.
 */
import * as fs from 'node:fs';
import { teardown } from '../cluster/down';
import { hostMac } from '../cluster/plan';
import { ownRunDir, removeStaleClusters } from '../cluster/stale';
import { readState } from '../cluster/state';
import { clusterUp } from '../cluster/up';
import { openWirePair } from '../device/open';
import { CondisError } from '../errors';
import { ControlClient } from '../node/control-client';
import { CondisNode, NODE_QUEUE_SIZE } from '../node/node';
import { resolveNodeOptions } from '../node/options';

export const CALL_PATHS = ['hosts', 'wire'] as const;
export type CallPath = (typeof CALL_PATHS)[number];

/** A call's outcome as the benchmark sees it: made (with the node's setup time) or refused. */
export type CallOutcome =
  | { ok: true; call: number; setupMs: number }
  | { ok: false; code: string; status: string | null; message: string };

export interface PairCounters {
  verifierViolations: number;
  vidRetries: number;
}

/** A pair of nodes, A calling B on B's SAP. */
export interface CallPair {
  readonly path: CallPath;
  /** One call A -> B. */
  call(): Promise<CallOutcome>;
  /** Closes A's call `call` (RELEASE and drain); the node's drainMs. */
  close(call: number): Promise<number>;
  /** Calls A and B hold now (B's end of a closed call goes a turn after A's). */
  open(): Promise<{ a: number; b: number }>;
  /** Both nodes' verifier violations; A's VID retries (a SETUP refused: the VID busy at B). */
  counters(): Promise<PairCounters>;
  /** Removes everything the path made. Idempotent; never throws. */
  dispose(): Promise<void>;
}

const bad = (m: string) => new CondisError('ERR_CONDIS_BENCH_FAILED', m);

/** The wire path: two node stacks in this process on the ends of one in-process wire. */
export async function openWirePath(queuePairs: number): Promise<CallPair> {
  const [da, db] = openWirePair({ queuePairs, queueSize: NODE_QUEUE_SIZE });
  const opts = (i: number) =>
    resolveNodeOptions({
      tap: `wire${i}`,
      mac: hostMac(i),
      ip: `10.14.0.${i}/24`,
      control: '-',
      queuePairs,
    });
  let a: CondisNode | null = null;
  let b: CondisNode | null = null;
  try {
    a = await CondisNode.onDevice(da, opts(1), () => {});
  } catch (e) {
    db.destroy();
    throw e;
  }
  try {
    b = await CondisNode.onDevice(db, opts(2), () => {});
  } catch (e) {
    await a.stop().catch(() => {});
    throw e;
  }
  const A = a;
  const B = b;
  let closed: Promise<void> | null = null;
  return {
    path: 'wire',
    async call() {
      try {
        const r = await A.call(B.opts.macText, B.opts.sap);
        return { ok: true, call: r.call, setupMs: r.setupMs };
      } catch (e) {
        const err = e as CondisError;
        const status = err.details?.status;
        return {
          ok: false,
          code: err.code ?? 'ERR_CONDIS_INTERNAL',
          status: typeof status === 'string' ? status : null,
          message: err.message,
        };
      }
    },
    async close(call) {
      return (await A.close(call)).drainMs;
    },
    async open() {
      return { a: A.client.calls.size, b: B.client.calls.size };
    },
    async counters() {
      return {
        verifierViolations: A.ndis.verifier.violations.length + B.ndis.verifier.violations.length,
        vidRetries: A.client.counters.vidRetries,
      };
    },
    dispose() {
      closed ??= Promise.allSettled([A.stop(), B.stop()]).then(() => {});
      return closed;
    },
  };
}

export interface HostsPathOptions {
  queuePairs: number;
  /** The cluster id (its namespaces are <id>-h1, <id>-h2, <id>-ul). */
  id: string;
  signal?: AbortSignal;
  log?: (line: string) => void;
}

/** The hosts path: `condis cluster up 2` of its own, nodes with --queue-pairs, A's and B's sockets. */
export async function openHostsPath(o: HostsPathOptions): Promise<CallPair> {
  // A bench killed with SIGKILL left its cluster (cb<pid>, the pid runs no more): remove it first.
  for (const s of await removeStaleClusters('cb')) o.log?.(`removed cluster ${s}, left by a killed run`);
  // A run directory of its own, named by the id (/run/condis/<id>, ownRunDir): the bench's cluster
  // never meets the user's, and a run killed before it could remove it is found again.
  const runDir = ownRunDir(o.id);
  fs.mkdirSync(runDir, { recursive: true, mode: 0o700 });
  const down = async () => {
    await teardown(o.id, runDir, readState(runDir, o.id), 5000).catch(() => {});
    fs.rmSync(runDir, { recursive: true, force: true });
  };
  let a: ControlClient | null = null;
  let b: ControlClient | null = null;
  try {
    const state = await clusterUp({
      hosts: 2,
      id: o.id,
      runDir,
      nodeExtraArgs: ['--queue-pairs', String(o.queuePairs)],
      ...(o.signal ? { signal: o.signal } : {}),
      ...(o.log ? { log: o.log } : {}),
    });
    const [ha, hb] = state.hosts as [(typeof state.hosts)[0], (typeof state.hosts)[0]];
    a = await ControlClient.connect(ha.control);
    b = await ControlClient.connect(hb.control);
    const A = a;
    const B = b;
    const ok = async (c: ControlClient, req: Record<string, unknown>) => {
      const r = await c.request(req);
      if (!r.ok) throw bad(`hosts: ${JSON.stringify(req)}: ${String(r.code)} ${String(r.message)}`);
      return r;
    };
    let closed: Promise<void> | null = null;
    return {
      path: 'hosts',
      async call() {
        const r = await A.request({ cmd: 'call', peer: hb.mac, sap: 1 });
        if (r.ok) return { ok: true, call: r.call as number, setupMs: r.setupMs as number };
        return {
          ok: false,
          code: String(r.code),
          status: typeof r.status === 'string' ? r.status : null,
          message: String(r.message),
        };
      },
      async close(call) {
        return (await ok(A, { cmd: 'close', call })).drainMs as number;
      },
      async open() {
        const [ra, rb] = await Promise.all([ok(A, { cmd: 'calls' }), ok(B, { cmd: 'calls' })]);
        return { a: (ra.calls as unknown[]).length, b: (rb.calls as unknown[]).length };
      },
      async counters() {
        const [ra, rb] = await Promise.all([ok(A, { cmd: 'status' }), ok(B, { cmd: 'status' })]);
        return {
          verifierViolations: (ra.verifierViolations as number) + (rb.verifierViolations as number),
          vidRetries: (ra.client as { vidRetries: number }).vidRetries,
        };
      },
      dispose() {
        closed ??= (async () => {
          A.close();
          B.close();
          await down();
        })();
        return closed;
      },
    };
  } catch (e) {
    a?.close();
    b?.close();
    await down();
    throw e;
  }
}
