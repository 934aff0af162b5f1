// `condis bench drain` end to end on the wire (no privilege): the report's shape, the JSON and SVG
// files, and the pcap of the frames moved (read back with tshark). With root, the kernel
// comparison runs too.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { JIT_WARMUP, WARMUP_DEPTHS } from '../../lib/scenarios/drain-bench';
import { waitUntil } from '../helpers/wait';
import { runMain, tshark, vidCounts } from './helpers';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'condis-bench-'));
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));
const isRoot = typeof process.getuid === 'function' && process.getuid() === 0;

describe('condis bench drain', () => {
  const pcap = path.join(dir, 'drain.pcap');
  let pcapFrames = -1; // what the wire run below moved, for tshark to find in its pcap

  it('measures every depth on the wire and writes JSON, SVG and pcap', async () => {
    const json = path.join(dir, 'drain.json');
    const svg = path.join(dir, 'drain.svg');
    const iterations = 5;
    const r = await runMain([
      'bench',
      'drain',
      '--backend',
      'wire',
      '--depths',
      '0,3,16',
      '--iterations',
      String(iterations),
      '--warmup',
      '1',
      '--no-kernel',
      '--json',
      json,
      '--svg',
      svg,
      '--pcap',
      pcap,
    ]);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/depth\s+in-flight\s+drain p50/);
    const report = JSON.parse(fs.readFileSync(json, 'utf8'));
    expect(report).toMatchObject({ bench: 'drain', backend: 'wire' });
    expect(report.machine.loadAvg).toHaveLength(3);
    expect(report.rows.map((x: { depth: number }) => x.depth)).toEqual([0, 3, 16]);
    for (const row of report.rows) {
      expect(row.iterations).toBe(iterations);
      // The wire holds exactly `depth` sends on the ring at NdisCmDeactivateVc.
      expect(row.inFlight).toEqual({ mean: row.depth, min: row.depth, max: row.depth });
      for (const k of ['p50', 'p90', 'p99', 'p999', 'max']) {
        expect(row.drainUs[k]).toBeGreaterThan(0);
        expect(row.overheadUs[k]).toBeGreaterThanOrEqual(0);
        expect(row.overheadUs[k]).toBeLessThanOrEqual(row.drainUs.max);
      }
      expect(row.drainUs.p50).toBeLessThanOrEqual(row.drainUs.max);
      expect(row.kernelDownUs).toBeNull();
    }
    const chart = fs.readFileSync(svg, 'utf8');
    expect(chart).toMatch(/^<svg /);
    expect(chart).toMatch(/drain p99\.9/);
    expect(chart).toMatch(/microseconds \(log scale\)/);
    // Each measured or warm-up iteration moves depth frames each way on VID 42, and so does each
    // iteration of the JIT warm-up (cycling through WARMUP_DEPTHS, capped at the largest depth).
    const jit = Array.from({ length: JIT_WARMUP }, (_, i) =>
      Math.min(WARMUP_DEPTHS[i % WARMUP_DEPTHS.length]!, 16),
    );
    pcapFrames = ((3 + 16) * (iterations + 1) + jit.reduce((a, b) => a + b, 0)) * 2;
    expect(fs.statSync(pcap).size).toBeGreaterThan(24);
  }, 60_000);

  it('tshark reads its pcap back: every frame moved, all on VID 42', (ctx) => {
    if (!tshark('bench drain --pcap')) return ctx.skip('tshark is not installed (Debian package tshark)');
    expect(pcapFrames).toBeGreaterThan(0);
    expect(vidCounts(pcap)).toEqual(new Map([['42', pcapFrames]]));
  });

  it('Ctrl-C stops after the iteration under way: what was measured is reported, exit 130', async () => {
    const listeners = process.listenerCount('SIGINT');
    const running = runMain([
      'bench',
      'drain',
      '--backend',
      'wire',
      '--depths',
      '0,1',
      '--iterations',
      '1000000',
      '--warmup',
      '0',
      '--no-kernel',
    ]);
    // Once the devices run (their I/O threads exist), Ctrl-C.
    const deviceThread = () =>
      fs
        .readdirSync('/proc/self/task')
        .some((t) => fs.readFileSync(`/proc/self/task/${t}/comm`, 'utf8').startsWith('condis'));
    await waitUntil(deviceThread, 'the benchmark to open its devices', 20_000);
    process.emit('SIGINT');
    const r = await running;
    expect(r.code).toBe(130);
    expect(r.stderr).toBe('');
    expect(r.stdout).toMatch(/^condis bench drain: backend wire: in-process\n/);
    expect(r.stdout).toMatch(/depth\s+in-flight\s+drain p50/);
    expect(process.listenerCount('SIGINT')).toBe(listeners); // the command's own is gone
  }, 60_000);

  it.runIf(isRoot)(
    'with root, compares with the kernel quiesce of a TAP',
    async () => {
      const json = path.join(dir, 'kernel.json');
      const r = await runMain([
        'bench',
        'drain',
        '--depths',
        '0,8',
        '--iterations',
        '3',
        '--warmup',
        '0',
        '--json',
        json,
      ]);
      expect(r.code).toBe(0);
      const report = JSON.parse(fs.readFileSync(json, 'utf8'));
      for (const row of report.rows) {
        expect(row.kernelDownUs.p50).toBeGreaterThan(0);
        expect(row.kernel.sent).toBe(row.depth * 3);
      }
      expect(r.stdout).toMatch(/what the kernel did with the queued frames/);
    },
    60_000,
  );
});
