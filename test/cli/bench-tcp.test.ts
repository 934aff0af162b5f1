// `condis bench tcp` (issue 13, point 4): a short real run as root (veth, the C forwarder, condis'
// FramePort path) gives the JSON shape with every Gbit/s above 0, and leaves no namespace, TAP or
// iperf3 behind; SIGINT in the middle of a run cleans up the same way and exits 130.
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { tapTestsEnabled } from '../helpers/privilege';
import { buildDist, ROOT } from './helpers';

function iperfHere(): boolean {
  const r = spawnSync('iperf3', ['--version']);
  if (r.status === 0) return true;
  if (process.env.CI === 'true')
    throw new Error('bench tcp: mandatory in CI: no iperf3 (apt-get install -y iperf3)');
  console.warn('[skip] bench tcp: no iperf3 (apt-get install -y iperf3)');
  return false;
}

const enabled = tapTestsEnabled('condis bench tcp') && iperfHere();

/** What a run with condis process `pid` could have left: its namespaces, TAPs/veths, iperf3s. */
function leftovers(pid: number): string[] {
  const out: string[] = [];
  const ns = execFileSync('ip', ['netns', 'list'], { encoding: 'utf8' });
  for (const l of ns.split('\n')) if (l.includes(`-${pid}`) && l.startsWith('cbt-')) out.push(`netns ${l}`);
  for (const i of fs.readdirSync('/sys/class/net'))
    if (i.startsWith('cbt') && i.endsWith(`p${pid}`)) out.push(i);
  const ps = spawnSync('pgrep', ['-a', '-f', `cbt-b-${pid}|cbt-a-${pid}|tcp-forward-child`], {
    encoding: 'utf8',
  });
  for (const l of (ps.stdout ?? '').split('\n')) if (l.includes(String(pid))) out.push(l);
  return out;
}

describe.runIf(enabled)('condis bench tcp', () => {
  beforeAll(() => buildDist(), 120_000);

  it('measures veth, the C forwarder and condis-port; JSON has every path with Gbit/s > 0; nothing left', () => {
    const json = path.join(os.tmpdir(), `h13c-bench-tcp-${process.pid}.json`);
    const r = spawnSync(
      process.execPath,
      [
        path.join(ROOT, 'bin/condis.js'),
        'bench',
        'tcp',
        '--seconds',
        '1',
        '--reps',
        '1',
        '--paths',
        'veth,c-forwarder,condis-port',
        '--json',
        json,
      ],
      { cwd: ROOT, encoding: 'utf8', timeout: 150_000 },
    );
    expect(r.status, r.stderr).toBe(0);
    const rep = JSON.parse(fs.readFileSync(json, 'utf8'));
    fs.rmSync(json, { force: true });
    expect(rep.bench).toBe('tcp');
    expect(rep.machine.cores).toBeGreaterThan(0);
    expect(typeof rep.load.start).toBe('number');
    expect(rep.results.map((x: { path: string; streams: number }) => `${x.path}/${x.streams}`)).toEqual([
      'veth/1',
      'veth/4',
      'c-forwarder/1',
      'c-forwarder/4',
      'condis-port/1',
      'condis-port/4',
    ]);
    for (const x of rep.results) {
      expect(x.gbps, x.path).toBeGreaterThan(0);
      expect(x.gbpsReps).toHaveLength(1);
      expect(x.udpPps, x.path).toBeGreaterThan(0);
    }
    expect(rep.errors).toEqual([]);
    expect(Object.keys(rep.ratios)).toEqual(
      expect.arrayContaining(['offloadVsC', 'noOffloadVsC', 'offloadVsVeth']),
    );
    expect(rep.ratios.noOffloadVsC).toBeGreaterThan(0);
    expect(leftovers(r.pid ?? -1)).toEqual([]);
  }, 180_000);

  it('SIGINT in the middle of a run: exit 130, namespaces, TAPs, forwarder and iperf3 gone', async () => {
    const child = spawn(
      process.execPath,
      [
        path.join(ROOT, 'bin/condis.js'),
        'bench',
        'tcp',
        '--seconds',
        '30',
        '--reps',
        '1',
        '--paths',
        'condis-port',
      ],
      { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let err = '';
    child.stderr.on('data', (d) => {
      err += d;
    });
    // Interrupt once the first iperf3 test is under way (the forwarder up, the TAPs moved).
    const deadline = Date.now() + 30_000;
    while (!err.includes('tcp x1') && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
    await new Promise((r) => setTimeout(r, 1500));
    expect(leftovers(child.pid!).length).toBeGreaterThan(0); // the run is live: the check can see it
    child.kill('SIGINT');
    const code = await new Promise<number | null>((r) => child.once('close', (c) => r(c)));
    expect(code, err).toBe(130);
    await new Promise((r) => setTimeout(r, 300));
    expect(leftovers(child.pid!)).toEqual([]);
  }, 90_000);
});
