// `condis demo`, the main job, run as a user runs it: `node bin/condis.js demo` over dist/. Two
// nodes with the signalling call manager: the call with SETUP/CONNECT, the pings, the RELEASE
// under traffic with B's drain, the NDIS sequence of both sides. On the in-process wire (no
// privilege), and as two node processes in namespaces (root): through the CLI and through
// runDemo, in one file, so that its runs never overlap (each demo first removes the clusters of
// killed demos, which the SIGKILL test counts on finding).
// Interrupted runs (SIGINT while paused at a step) must exit 130 and leave nothing behind.
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { listNamespaces } from '../../lib/cluster/netns';
import { DemoInterrupted, type DemoReport, demoPassed, runDemo } from '../../lib/scenarios/demo';
import { expectDemoReport, expectPhaseLines } from '../helpers/demo-report';
import { tapTestsEnabled } from '../helpers/privilege';
import { buildDist, condis, ROOT } from './helpers';

const hostsEnabled = tapTestsEnabled('condis demo --backend hosts');

beforeAll(() => {
  buildDist();
  if (!fs.existsSync(path.join(ROOT, 'dist/lib/cli/demo.js')))
    throw new Error('dist/lib/cli/demo.js not built');
}, 180_000);

function report(args: string[]): DemoReport {
  const r = condis(['demo', ...args, '--json']);
  expect(r.code, r.stderr + r.stdout).toBe(0);
  return JSON.parse(r.stdout) as DemoReport;
}

/** Starts the demo paused before `step`, interrupts it there (SIGINT), resolves with its exit. */
function interruptAt(
  args: string[],
  step: string,
  signal: NodeJS.Signals = 'SIGINT',
): Promise<{ code: number | null; stderr: string; pid: number }> {
  return new Promise((resolve, reject) => {
    const child = spawn(
      process.execPath,
      [path.join(ROOT, 'bin/condis.js'), 'demo', ...args, '--pause-at', step],
      {
        cwd: ROOT,
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    let stderr = '';
    let sent = false;
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`the demo never paused: ${stderr}`));
    }, 60_000);
    child.stdout.resume();
    child.stderr.on('data', (d) => {
      stderr += d;
      // One Ctrl-C. (Sending one per stderr chunk sent a second after the demo's report line, which
      // could land after it had let go of SIGINT: killed by the signal, exit code null.)
      if (!sent && stderr.includes(`paused before ${step}`)) {
        sent = true;
        child.kill(signal);
      }
    });
    child.on('exit', (code) => {
      clearTimeout(timer);
      resolve({ code, stderr, pid: child.pid! });
    });
  });
}

describe('condis demo: two nodes, the signalling call manager, on the wire', () => {
  it('--json: the call, the pings, B drained under traffic, RELEASE, both NDIS sequences, nothing left', () => {
    const rep = report(['--backend', 'wire']);
    expect(rep.backend).toBe('wire');
    expect(rep.note).toMatch(/^wire backend \(chosen with --backend wire\): two nodes in this process/);
    expectDemoReport(rep, 5);
    expect(rep.removed).toEqual([]);
    // warmUp() ran first (the default), so the drains above were the path's warm ones.
    expect(rep.warmUp?.deactivations).toBe(300);
  }, 60_000);

  it('--cold skips warmUp(): no warm-up line, the backend first, warmUp null in the JSON', () => {
    const r = condis(['demo', '--backend', 'wire', '--pings', '1', '--cold']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout.split('\n')[0]).toMatch(
      /^wire backend \(chosen with --backend wire\): two nodes in this process/,
    );
    expect(r.stdout).not.toMatch(/^warm-up/m);
    expect(report(['--backend', 'wire', '--pings', '1', '--cold']).warmUp).toBeNull();
  }, 60_000);

  it('prints the warm-up, the backend, a line per phase, then frames and both sequences', () => {
    const r = condis(['demo', '--backend', 'wire', '--pings', '2']);
    expect(r.code, r.stderr).toBe(0);
    const lines = r.stdout.split('\n');
    expect(lines[0]).toMatch(/^warm-up {5}warmUp\(\): 300 deactivations on private wire pairs in \d+ ms/);
    expect(lines[1]).toMatch(/^wire backend \(chosen with --backend wire\): two nodes in this process/);
    expectPhaseLines(r.stdout, '02:cd:00:00:00:0b', 2);
    expect(r.stdout).toMatch(/^A -> B +\d+ +\d+ +0$/m);
    expect(r.stdout).toMatch(/^B -> A +\d+ +\d+ +0$/m);
    expect(r.stdout).toMatch(
      /^signalling sent: A SETUP, CONNECT ACK, RELEASE[^;]*; B CONNECT, RELEASE COMPLETE/m,
    );
    expect(r.stdout).toMatch(/^NDIS sequence of A \(the caller\)/m);
    expect(r.stdout).toMatch(/^NDIS sequence of B \(the callee\)/m);
    expect(r.stdout).toMatch(/^call VCs left: A 0, B 0 .*; verifier: 0 violation\(s\)$/m);
  }, 60_000);

  it("--mermaid and --pcap write one diagram of both sides and A's frames", () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'condis-demo-'));
    try {
      const mmd = path.join(dir, 'demo.mmd');
      const pcap = path.join(dir, 'demo.pcap');
      const rep = report(['--backend', 'wire', '--mermaid', mmd, '--pcap', pcap]);
      const diagram = fs.readFileSync(mmd, 'utf8');
      expect(diagram).toMatch(/^sequenceDiagram\n/);
      for (const n of [
        'AClient->>ANDIS: NdisClMakeCall',
        'BNDIS->>BClient: ProtocolClIncomingCall',
        'BCM->>BNDIS: NdisCmDeactivateVc',
        'BNDIS-)BCM: ProtocolCmDeactivateVcComplete',
        'AClient->>ANDIS: NdisCoDeleteVc',
      ])
        expect(diagram).toContain(n);
      expect(diagram).toMatch(/Note over AClient,BClient: demo: release under traffic/);
      expect(rep.pcap!.frames).toBeGreaterThan(rep.frames.aToB.sent + rep.frames.bToA.received);
      const b = fs.readFileSync(pcap);
      expect(b.readUInt32LE(0)).toBe(0xa1b2c3d4);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  }, 60_000);

  it('SIGINT while paused before the release (the call up): exit 130, cleaned up', async () => {
    const r = await interruptAt(['--backend', 'wire'], 'release');
    expect(r.code).toBe(130);
    expect(r.stderr).toMatch(/interrupted during release; removed: nothing/);
  }, 60_000);

  it('usage errors and --help', () => {
    const h = condis(['demo', '--help']);
    expect(h.code).toBe(0);
    expect(h.stdout).toMatch(/^usage: condis demo/);
    expect(h.stdout).toMatch(/example: /);
    expect(condis(['demo', '--pings', '0']).stderr).toMatch(/--pings must be from 1 to 1000/);
    expect(condis(['demo', '--backend', 'tap']).stderr).toMatch(/--backend must be one of/);
    // Only the wire writes a pcap: a usage error (exit 2), before anything is made.
    const p = condis(['demo', '--backend', 'hosts', '--pcap', '/tmp/condis-demo-never.pcap']);
    expect(p.code).toBe(2);
    expect(p.stderr).toMatch(/--pcap is for the wire backend .*\(try condis demo --help\)/);
    expect(fs.existsSync('/tmp/condis-demo-never.pcap')).toBe(false);
    // demo is the first command of condis --help.
    expect(condis(['--help']).stdout).toMatch(/commands:\n {2}demo /);
  }, 60_000);
});

describe.skipIf(!hostsEnabled)(
  'condis demo as root: two node processes in namespaces (auto picks hosts)',
  () => {
    const ours = () => listNamespaces().filter((ns) => /^cd\d+-/.test(ns));

    it('the call, pings and the release cross bridge + VXLAN; the cluster is gone afterwards', () => {
      const before = ours();
      const r = condis(['demo', '--pings', '3']);
      expect(r.code, r.stderr + r.stdout).toBe(0);
      const lines = r.stdout.split('\n');
      expect(lines[0]).toMatch(
        /^hosts backend \(auto: this process is root\): two node processes in namespaces cd\d+-h1 and cd\d+-h2; /,
      );
      expectPhaseLines(r.stdout, '02:cc:00:00:00:02', 3);
      expect(r.stdout).toMatch(/^A -> B +\d+ +\d+ +0$/m);
      expect(r.stdout).toMatch(/^B -> A +\d+ +\d+ +0$/m);
      expect(r.stdout).toMatch(/^call VCs left: A 0, B 0 .*; verifier: 0 violation\(s\)$/m);
      expect(r.stdout).toMatch(/^removed: cluster cd\d+ \(namespaces /m);
      expect(ours()).toEqual(before);
    }, 120_000);

    it('SIGINT while paused before the release (the call up across hosts): exit 130, the cluster removed', async () => {
      const r = await interruptAt([], 'release');
      expect(r.code).toBe(130);
      expect(r.stderr).toMatch(/interrupted during release; removed: cluster cd\d+ \(namespaces/);
      expect(ours().filter((ns) => ns.startsWith(`cd${r.pid}-`))).toEqual([]);
    }, 120_000);

    it('a demo killed with SIGKILL leaves its cluster; the next demo removes it first and says so', async () => {
      const killed = await interruptAt([], 'release', 'SIGKILL');
      expect(killed.code).toBeNull();
      const left = ours().filter((ns) => ns.startsWith(`cd${killed.pid}-`));
      expect(left.sort()).toEqual([`cd${killed.pid}-h1`, `cd${killed.pid}-h2`, `cd${killed.pid}-ul`]);
      expect(fs.existsSync(`/run/condis/cd${killed.pid}`)).toBe(true);
      const next = report(['--pings', '1']);
      expect(next.note).toContain(`removed first what killed demos left: cluster cd${killed.pid}`);
      expect(ours().filter((ns) => ns.startsWith(`cd${killed.pid}-`))).toEqual([]);
      expect(fs.existsSync(`/run/condis/cd${killed.pid}`)).toBe(false);
    }, 120_000);

    it('stdout closed mid-run (condis demo | head -1): interrupted as by SIGPIPE, exit 141, the cluster removed', async () => {
      const r = await new Promise<{ code: number | null; stderr: string; pid: number }>((resolve) => {
        const child = spawn(process.execPath, [path.join(ROOT, 'bin/condis.js'), 'demo', '--pings', '1'], {
          cwd: ROOT,
          stdio: ['ignore', 'pipe', 'pipe'],
        });
        let stderr = '';
        child.stderr.on('data', (d) => {
          stderr += d;
        });
        // The reader goes away after the first line, as head -1 does.
        child.stdout.once('data', () => child.stdout.destroy());
        child.on('exit', (code) => resolve({ code, stderr, pid: child.pid! }));
      });
      expect(r.code, r.stderr).toBe(141);
      expect(r.stderr).toMatch(/^condis demo: interrupted during \w+; removed: cluster cd\d+ \(namespaces /m);
      expect(ours().filter((ns) => ns.startsWith(`cd${r.pid}-`))).toEqual([]);
    }, 120_000);

    // runDemo itself, from a program (the library's view of the same run).
    const mine = () => listNamespaces().filter((ns) => ns.startsWith(`cd${process.pid}-`));

    it('the report of the wire, from two processes: the call, pings, B drained on RELEASE, both sequences', async () => {
      const r = await runDemo({ backend: 'hosts', pings: 2, diagram: true, warmUp: true });
      expect(r.backend).toBe('hosts');
      expect(r.note).toMatch(
        /^hosts backend \(chosen with --backend hosts\): two node processes in namespaces /,
      );
      expect(r.topology).toMatch(/vxlan0 -> underlay -> vxlan0/);
      expectDemoReport(r, 2);
      expect(demoPassed(r)).toBe(true);
      expect(r.call.callee).toBe('02:cc:00:00:00:02');
      expect(r.removed).toEqual([expect.stringMatching(/^cluster cd\d+ \(namespaces /)]);
      // The two traces merged on one clock: A's make-call before B's offer, B's drain before A's.
      const d = r.diagram!;
      expect(d.indexOf('AClient->>ANDIS: NdisClMakeCall')).toBeLessThan(
        d.indexOf('BNDIS->>BClient: ProtocolClIncomingCall'),
      );
      expect(d.indexOf('BNDIS-)BCM: ProtocolCmDeactivateVcComplete')).toBeLessThan(
        d.lastIndexOf('ACM->>ANDIS: NdisCmDeactivateVc'),
      );
      expect(mine()).toEqual([]);
    }, 120_000);

    it('aborted while the call is up: DemoInterrupted, the nodes stopped and the namespaces gone', async () => {
      const ac = new AbortController();
      const err = await runDemo({
        backend: 'hosts',
        pings: 1,
        signal: ac.signal,
        beforeStep: (s) => {
          if (s !== 'release') return undefined;
          expect(mine().length).toBe(3);
          setImmediate(() => ac.abort('stop here'));
          return new Promise<never>(() => {});
        },
      }).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(DemoInterrupted);
      expect((err as DemoInterrupted).step).toBe('release');
      expect((err as DemoInterrupted).removed).toEqual([expect.stringMatching(/^cluster cd\d+/)]);
      expect(mine()).toEqual([]);
    }, 120_000);

    it('--pcap with auto picks the wire even as root (only the wire writes one), and says why', () => {
      const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'condis-demo-pcap-'));
      try {
        const rep = report(['--pings', '1', '--pcap', path.join(dir, 'a.pcap')]);
        expect(rep.backend).toBe('wire');
        expect(rep.note).toMatch(
          /^wire backend \(auto: a pcap is asked for, which only the wire backend writes\): /,
        );
        expect(rep.pcap!.frames).toBeGreaterThan(0);
      } finally {
        fs.rmSync(dir, { recursive: true, force: true });
      }
    }, 60_000);
  },
);
