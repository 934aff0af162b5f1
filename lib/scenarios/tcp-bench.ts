/**
 * The TCP benchmark as a library (`condis bench tcp`, `npm run bench:tcp`): iperf3 between two
 * network namespaces over each path, in one run (issue 13, point 4):
 *
 *   veth                   a veth pair straight between the namespaces: the kernel's limit
 *   c-forwarder            two TAPs bridged by cfwd.c, one read()/write() per frame
 *   c-forwarder-offload    the same with IFF_VNET_HDR and TSO/CSUM offloads (GSO frames cross whole)
 *   condis-port            two condis devices, frames copied between their rings by FramePort
 *   condis-port-offload    the same with the virtio-net offloads and big receive buffers
 *   condis-ndis            through NDIS and the reference bridge (skipped when the tree lacks it)
 *   condis-ndis-offload    the same with offloads
 *
 * Each repetition of a path measures single-stream TCP, 4-stream TCP and UDP with 64-byte
 * payloads; the repetitions are interleaved (rep 1 of every path, then rep 2, ...), so a change in
 * the machine's load touches every path alike. Reports medians and each rep.
 * Layer: a scenario over the device layer and lib/bench/tcp (namespaces, forwarders, iperf3).
 */
import * as fs from 'node:fs';
import { describeMachine, type MachineInfo } from '../bench/machine';
import { median, ratio, round } from '../bench/stats';
import { buildCfwd, ndisForwarderMissing } from '../bench/tcp/forwarders';
import { type IperfTest, iperfMissing, runClient, startServer } from '../bench/tcp/iperf';
import { type Link, TcpRig } from '../bench/tcp/rig';

export const TCP_PATHS = [
  'veth',
  'c-forwarder',
  'c-forwarder-offload',
  'condis-port',
  'condis-port-offload',
  'condis-ndis',
  'condis-ndis-offload',
] as const;
export type TcpPath = (typeof TCP_PATHS)[number];

const LINKS: Record<TcpPath, Link> = {
  veth: { kind: 'veth' },
  'c-forwarder': { kind: 'c', offload: false },
  'c-forwarder-offload': { kind: 'c', offload: true },
  'condis-port': { kind: 'port', offload: false },
  'condis-port-offload': { kind: 'port', offload: true },
  'condis-ndis': { kind: 'ndis', offload: false },
  'condis-ndis-offload': { kind: 'ndis', offload: true },
};

/** The stream counts measured on every path. */
export const STREAMS = [1, 4] as const;

export interface TcpBenchOptions {
  paths: readonly TcpPath[];
  seconds: number;
  reps: number;
  signal?: AbortSignal;
  log?: (line: string) => void;
  onRep?: (done: number, total: number, label: string) => void;
}

/** One row: a path at one stream count, with the path's UDP rate beside it. */
export interface TcpResult {
  path: TcpPath;
  streams: number;
  /** Median Gbit/s over the reps (null when skipped or every rep failed). */
  gbps: number | null;
  gbpsReps: number[];
  /** Median 64-byte UDP datagrams per second the server received (the same on both rows of a path). */
  udpPps: number | null;
  udpPpsReps: number[];
}

export interface TcpSkip {
  path: TcpPath;
  reason: string;
}

export interface TcpRatios {
  offloadVsC: number | null;
  offloadVsVeth: number | null;
  noOffloadVsC: number | null;
  ndisOffloadVsC: number | null;
  ndisNoOffloadVsC: number | null;
}

export interface TcpBenchReport {
  bench: 'tcp';
  machine: MachineInfo;
  /** 1-minute load average at the start and the end. */
  load: { start: number; end: number };
  seconds: number;
  reps: number;
  results: TcpResult[];
  skipped: TcpSkip[];
  /** Single-stream Gbit/s medians over each other. */
  ratios: TcpRatios;
  /** Failures of single reps (the path's other reps still count). */
  errors: string[];
  /** Each forwarder's counters at the end of its last rep. */
  forwarders: Partial<Record<TcpPath, Record<string, unknown> | null>>;
}

/** Why the benchmark cannot run here at all (not root, no iperf3), or null. */
export function tcpBenchUnavailable(): string | null {
  if (process.platform !== 'linux') return 'Linux only';
  if (typeof process.getuid === 'function' && process.getuid() !== 0)
    return 'needs root (network namespaces, TAPs)';
  return iperfMissing();
}

export class TcpInterrupted extends Error {
  constructor() {
    super('interrupted');
  }
}

function ratiosOf(results: readonly TcpResult[]): TcpRatios {
  const g = (p: TcpPath) => results.find((r) => r.path === p && r.streams === 1)?.gbps ?? null;
  const r = (a: TcpPath, b: TcpPath) => round(ratio(g(a), g(b)), 3);
  return {
    offloadVsC: r('condis-port-offload', 'c-forwarder-offload'),
    offloadVsVeth: r('condis-port-offload', 'veth'),
    noOffloadVsC: r('condis-port', 'c-forwarder'),
    ndisOffloadVsC: r('condis-ndis-offload', 'c-forwarder-offload'),
    ndisNoOffloadVsC: r('condis-ndis', 'c-forwarder'),
  };
}

/** Runs the benchmark (see the header). Rejects with TcpInterrupted after an abort, once cleaned up. */
export async function runTcpBench(o: TcpBenchOptions): Promise<TcpBenchReport> {
  const log = o.log ?? (() => {});
  const why = tcpBenchUnavailable();
  if (why) throw new Error(`condis bench tcp cannot run here: ${why}`);
  const skipped: TcpSkip[] = [];
  const ndisMissing = ndisForwarderMissing();
  const paths = o.paths.filter((p) => {
    if (LINKS[p].kind === 'ndis' && ndisMissing) {
      skipped.push({ path: p, reason: ndisMissing });
      return false;
    }
    return true;
  });
  const cfwd = paths.some((p) => LINKS[p].kind === 'c') ? buildCfwd() : null;
  const machine = describeMachine();
  let rig: TcpRig | null = null;
  const cleanup = () => {
    rig?.cleanupSync();
    if (cfwd) fs.rmSync(cfwd.dir, { recursive: true, force: true });
  };
  // Whatever happens, nothing the run made outlives the process.
  process.on('exit', cleanup);
  const aborted = () => o.signal?.aborted === true;
  // An abort kills the children at once: iperf3 and the forwarder return, the loop stops.
  const onAbort = () => rig?.cleanupSync();
  o.signal?.addEventListener('abort', onAbort, { once: true });
  const gbps = new Map<string, number[]>();
  const pps = new Map<TcpPath, number[]>();
  const errors: string[] = [];
  const forwarders: TcpBenchReport['forwarders'] = {};
  const tests: { label: string; test: IperfTest }[] = [
    ...STREAMS.map((s) => ({ label: `tcp x${s}`, test: { kind: 'tcp', streams: s } as IperfTest })),
    { label: 'udp 64 B', test: { kind: 'udp' } },
  ];
  const total = o.reps * paths.length * tests.length;
  let done = 0;
  try {
    rig = new TcpRig(cfwd?.bin ?? null);
    const r = rig;
    for (let rep = 0; rep < o.reps; rep++) {
      for (const p of paths) {
        if (aborted()) throw new TcpInterrupted();
        try {
          await r.up(LINKS[p]);
          const server = await startServer(r.a.name, r.track);
          try {
            for (const t of tests) {
              if (aborted()) throw new TcpInterrupted();
              o.onRep?.(done, total, `rep ${rep + 1}/${o.reps} ${p} ${t.label}`);
              const v = await runClient(r.b.name, t.test, o.seconds, r.track);
              done++;
              if (t.test.kind === 'tcp') {
                const k = `${p}/${t.test.streams}`;
                gbps.set(k, [...(gbps.get(k) ?? []), v]);
              } else pps.set(p, [...(pps.get(p) ?? []), v]);
            }
          } finally {
            server.kill('SIGKILL');
          }
        } catch (e) {
          if (aborted() || e instanceof TcpInterrupted) throw new TcpInterrupted();
          const msg = `${p} rep ${rep + 1}: ${e instanceof Error ? e.message : String(e)}`;
          errors.push(msg);
          log(msg);
        } finally {
          const stats = await r.down();
          if (stats) forwarders[p] = stats;
        }
      }
    }
    if (aborted()) throw new TcpInterrupted();
  } catch (e) {
    if (aborted()) throw new TcpInterrupted();
    throw e;
  } finally {
    o.signal?.removeEventListener('abort', onAbort);
    cleanup();
    process.off('exit', cleanup);
  }
  const results: TcpResult[] = [];
  for (const p of paths) {
    const u = pps.get(p) ?? [];
    for (const s of STREAMS) {
      const g = gbps.get(`${p}/${s}`) ?? [];
      results.push({
        path: p,
        streams: s,
        gbps: g.length ? round(median(g), 3) : null,
        gbpsReps: g.map((x) => round(x, 3) as number),
        udpPps: u.length ? Math.round(median(u)) : null,
        udpPpsReps: u.map(Math.round),
      });
    }
  }
  return {
    bench: 'tcp',
    machine,
    load: { start: machine.loadAvg[0], end: describeMachine().loadAvg[0] },
    seconds: o.seconds,
    reps: o.reps,
    results,
    skipped,
    ratios: ratiosOf(results),
    errors,
    forwarders,
  };
}
