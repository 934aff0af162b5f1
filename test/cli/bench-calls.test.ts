// `condis bench calls` (issue 14, point 5). The wire path needs no privilege: a short run gives the
// JSON shape with ordered percentiles and the most concurrent calls = queue pairs - 1, refused with
// RESOURCES. Without root the hosts path is skipped with the reason (run as nobody from a staged
// package when this test is root). As root (mandatory under CI=true): both paths in one run, a
// cluster of 2 hosts with real node processes, the same checks for hosts plus the ratios; nothing
// left behind, also after SIGINT in the middle of the hosts path (exit 130).
// No timing assertions: only the ordering of percentiles and counts.
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { teardown } from '../../lib/cluster/down';
import { listNamespaces } from '../../lib/cluster/netns';
import { condisCommand } from '../../lib/node/spawn';
import { processesMentioning } from '../helpers/host';
import { tapTestsEnabled } from '../helpers/privilege';
import { isRoot, stagePackage } from '../helpers/unprivileged';
import { buildDist, runMain } from './helpers';

const BASE = `bk${process.pid}`;
const dir = fs.mkdtempSync(path.join(os.tmpdir(), `${BASE}-`));

interface Latency {
  p50: number;
  p99: number;
  p999: number;
  max: number;
}

interface Result {
  path: string;
  queuePairs: number;
  calls: number;
  setupMs: Latency;
  closeMs: Latency;
  cycleMs: Latency;
  callsPerSec: number;
  callsPerSecConcurrent: number;
  maxConcurrent: number;
  limitCause: string;
  limitMessage: string;
  verifierViolations: number;
  vidRetries: number;
}

function checkResult(r: Result, queuePairs: number): void {
  for (const l of [r.setupMs, r.closeMs, r.cycleMs]) {
    expect(l.p50, r.path).toBeGreaterThan(0);
    expect(l.p50).toBeLessThanOrEqual(l.p99);
    expect(l.p99).toBeLessThanOrEqual(l.p999);
    expect(l.p999).toBeLessThanOrEqual(l.max);
  }
  expect(r.callsPerSec).toBeGreaterThan(0);
  expect(r.callsPerSecConcurrent).toBeGreaterThan(0);
  expect(r.queuePairs).toBe(queuePairs);
  // Pair 0 carries the signalling VC; every call's VC binds one of the others.
  expect(r.maxConcurrent).toBe(queuePairs - 1);
  expect(r.limitCause).toBe('RESOURCES');
  expect(r.limitMessage).toMatch(/RESOURCES/);
  expect(r.verifierViolations).toBe(0);
}

/** What a run with cluster id `id` could have left: namespaces, node processes. */
function leftovers(id: string): string[] {
  return [
    ...listNamespaces()
      .filter((n) => n.startsWith(`${id}-`))
      .map((n) => `namespace ${n}`),
    ...processesMentioning(`cluster-${id}`).map((p) => `process ${p}`),
  ];
}

afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

describe('condis bench calls: the wire path (no privilege)', () => {
  it('gives the JSON shape, ordered percentiles and queue pairs - 1 calls at most, refused with RESOURCES', async () => {
    const json = path.join(dir, 'wire.json');
    const r = await runMain([
      'bench',
      'calls',
      '--paths',
      'wire',
      '--calls',
      '20',
      '--warmup',
      '5',
      '--queue-pairs',
      '8',
      '--concurrency',
      '3',
      '--json',
      json,
    ]);
    expect(r.code, r.stderr).toBe(0);
    const rep = JSON.parse(fs.readFileSync(json, 'utf8'));
    expect(rep.bench).toBe('calls');
    expect(rep.machine.cores).toBeGreaterThan(0);
    expect(typeof rep.load.start).toBe('number');
    expect(typeof rep.load.end).toBe('number');
    expect(rep).toMatchObject({ calls: 20, warmup: 5, concurrency: 3, queuePairs: 8, skipped: [] });
    expect(rep.results.map((x: Result) => x.path)).toEqual(['wire']);
    checkResult(rep.results[0], 8);
    expect(Object.keys(rep.ratios)).toEqual(
      expect.arrayContaining(['setupP50HostsOverWire', 'setupP99HostsOverWire', 'callsPerSecHostsOverWire']),
    );
    expect(rep.ratios.setupP50HostsOverWire).toBeNull();
    expect(r.stdout).toMatch(/load average [\d.]+ at start/);
    expect(r.stdout).toMatch(/max calls \(wire\): 7, the next failed with RESOURCES: no free queue pair/);
  });

  it('--concurrency must leave a queue pair: a usage error before anything starts', async () => {
    const r = await runMain([
      'bench',
      'calls',
      '--paths',
      'wire',
      '--queue-pairs',
      '4',
      '--concurrency',
      '4',
    ]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/--concurrency must be below --queue-pairs/);
  });
});

describe('condis bench calls without root: only the wire path, and it says so', () => {
  beforeAll(() => {
    if (isRoot()) buildDist();
  }, 180_000);

  it('skips hosts with the reason and measures wire', async () => {
    const args = ['bench', 'calls', '--calls', '10', '--warmup', '2', '--queue-pairs', '4'];
    const hostsOnly = ['bench', 'calls', '--paths', 'hosts', '--calls', '10', '--warmup', '2'];
    let out: { code: number; stdout: string; stderr: string };
    let none: { code: number; stdout: string; stderr: string };
    if (isRoot()) {
      const stage = stagePackage();
      try {
        out = stage.run(['bin/condis.js', ...args]);
        none = stage.run(['bin/condis.js', ...hostsOnly]);
      } finally {
        stage.remove();
      }
    } else {
      out = await runMain(args);
      none = await runMain(hostsOnly);
    }
    // Only hosts asked for, and it needs root: nothing measured is a failure, not a result.
    expect(none.code).toBe(1);
    expect(none.stderr).toMatch(/nothing measured: every path asked for was skipped/);
    expect(out.code, out.stderr).toBe(0);
    expect(out.stderr).toMatch(/hosts path skipped: needs root/);
    expect(out.stdout).toMatch(/skipped hosts: needs root/);
    expect(out.stdout).toMatch(/\nwire +[\d.]+/);
    expect(out.stdout).toMatch(/max calls \(wire\): 3, the next failed with RESOURCES/);
  });
});

describe.runIf(tapTestsEnabled('condis bench calls (hosts)'))('condis bench calls: hosts and wire', () => {
  const ids: string[] = [];
  afterAll(async () => {
    for (const id of ids) await teardown(id, os.tmpdir(), null, 2000);
  });

  it('measures both paths in one run on a cluster of 2 hosts; ratios; nothing left behind', async () => {
    const id = `${BASE}a`;
    ids.push(id);
    const json = path.join(dir, 'both.json');
    const r = await runMain([
      'bench',
      'calls',
      '--calls',
      '15',
      '--warmup',
      '3',
      '--queue-pairs',
      '8',
      '--concurrency',
      '2',
      '--id',
      id,
      '--json',
      json,
    ]);
    expect(r.code, r.stderr).toBe(0);
    const rep = JSON.parse(fs.readFileSync(json, 'utf8'));
    expect(rep.skipped).toEqual([]);
    expect(rep.results.map((x: Result) => x.path)).toEqual(['hosts', 'wire']);
    for (const x of rep.results) checkResult(x, 8);
    for (const v of Object.values(rep.ratios)) expect(v).toBeGreaterThan(0);
    expect(r.stdout).toMatch(/hosts\/wire: setup p50 [\d.]+x/);
    expect(leftovers(id)).toEqual([]);
  }, 180_000);

  it('SIGINT during the hosts path: exit 130, cluster and nodes removed', async () => {
    const id = `${BASE}b`;
    ids.push(id);
    const { command, args } = condisCommand([
      'bench',
      'calls',
      '--calls',
      '1000000',
      '--warmup',
      '2',
      '--queue-pairs',
      '4',
      '--id',
      id,
    ]);
    const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '';
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
    try {
      await new Promise<void>((resolve, reject) => {
        child.stderr.setEncoding('utf8');
        child.stderr.on('data', (d: string) => {
          stderr += d;
          if (stderr.includes('hosts: sequential')) resolve();
        });
        child.on('exit', () => reject(new Error(`exited before the sequential phase: ${stderr}`)));
      });
      expect(leftovers(id).length).toBeGreaterThan(0);
      child.kill('SIGINT');
      expect(await exited).toBe(130);
      expect(stderr).toMatch(/interrupted; cluster, node processes and wire nodes removed/);
      expect(leftovers(id)).toEqual([]);
    } finally {
      if (child.exitCode === null) child.kill('SIGKILL');
    }
  }, 180_000);
});
