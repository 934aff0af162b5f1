// `condis demo`, the main job, run as a user runs it: `node bin/condis.js demo` over dist/. The wire
// backend always (no privilege); the TAP backend — the kernel's ping through VLAN 42 — as root
// (mandatory under CI=true). Interrupted runs (SIGINT while paused at a step) must exit 130 and
// leave nothing behind.
import { execFileSync, spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import type { DemoReport } from '../../lib/scenarios/demo';
import { inOrder } from '../helpers/in-order';
import { tapTestsEnabled } from '../helpers/privilege';
import { buildDist, condis, ROOT } from './helpers';

beforeAll(() => {
  buildDist();
  if (!fs.existsSync(path.join(ROOT, 'dist/lib/cli/demo.js')))
    throw new Error('dist/lib/cli/demo.js not built');
}, 180_000);

/** Whether `names` occur in `seq` in this order, each as a prefix of an entry (not adjacent). */
function inSequence(seq: readonly string[], names: readonly string[]): boolean {
  return inOrder(seq, names, (entry, name) => entry.trim().startsWith(name));
}

function report(args: string[]): DemoReport {
  const r = condis(['demo', ...args, '--json']);
  expect(r.code, r.stderr + r.stdout).toBe(0);
  return JSON.parse(r.stdout) as DemoReport;
}

/** Every step of the issue, in order, in the NDIS sequence of the VC. */
function expectSequence(rep: DemoReport): void {
  expect(
    inSequence(rep.sequence, [
      'NdisCoCreateVc -> SUCCESS',
      '# make the call',
      'NdisClMakeCall',
      'NdisCmActivateVc -> SUCCESS',
      '# deactivate under traffic',
      'NdisCmDeactivateVc',
      'MiniportCoDeactivateVc',
      '# ping while inactive',
      '# re-activate',
      'NdisCmActivateVc -> SUCCESS',
      '# close the call',
      'NdisClCloseCall -> SUCCESS',
      'ProtocolCmCloseCall',
      'NdisCmDeactivateVc -> SUCCESS',
      '# delete the VC',
      'NdisCoDeleteVc -> SUCCESS',
      'MiniportCoDeleteVc',
    ]),
    rep.sequence.join('\n'),
  ).toBe(true);
}

/** Starts the demo paused before `step`, interrupts it there, resolves with its exit. */
function interruptAt(
  args: string[],
  step: string,
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
        child.kill('SIGINT');
      }
    });
    child.on('exit', (code) => {
      clearTimeout(timer);
      resolve({ code, stderr, pid: child.pid! });
    });
  });
}

describe('condis demo --backend wire', () => {
  it('runs every step and reports frames, the drain under traffic and the NDIS sequence', () => {
    const rep = report(['--backend', 'wire']);
    expect(rep.backend).toBe('wire');
    expect(rep.note).toMatch(/^wire backend: /);
    // Pings: all answered while active, none while inactive.
    expect(rep.pings.before).toEqual({ sent: 5, answered: 5 });
    expect(rep.pings.inactive).toEqual({ sent: 5, answered: 0 });
    expect(rep.pings.after).toEqual({ sent: 5, answered: 5 });
    expect(rep.pings.underTraffic.answered).toBe(rep.pings.underTraffic.sent);
    // Frames both ways, none lost; the requests sent while inactive were dropped by the device.
    expect(rep.frames.toClient.received).toBeGreaterThan(0);
    expect(rep.frames.fromClient.received).toBeGreaterThan(0);
    expect(rep.frames.toClient.lost).toBe(0);
    expect(rep.frames.fromClient.lost).toBe(0);
    expect(rep.frames.toClient.droppedInactive).toBe(5);
    // The deactivation started with sends in flight, pended, and was timed.
    expect(rep.deactivation.sendsInFlight).toBeGreaterThan(0);
    expect(rep.deactivation.pended).toBe(true);
    expect(rep.deactivation.status).toBe('SUCCESS');
    expect(Number.isFinite(rep.deactivation.drainUs) && rep.deactivation.drainUs > 0).toBe(true);
    expectSequence(rep);
    // The pended drain: the sends in flight complete, then the deactivation does.
    expect(
      inSequence(rep.sequence, [
        'NdisCmDeactivateVc -> PENDING',
        'MiniportCoDeactivateVc -> PENDING',
        'NdisMCoSendNetBufferListsComplete',
        'NdisMCoDeactivateVcComplete(SUCCESS)',
        'ProtocolCmDeactivateVcComplete(SUCCESS)',
        '# ping while inactive',
      ]),
      rep.sequence.join('\n'),
    ).toBe(true);
    expect(rep.verifierViolations).toBe(0);
    // warmUp() ran first (the default), so the drain above was the path's warm one.
    expect(rep.warmUp?.deactivations).toBe(300);
  }, 60_000);

  it('--cold skips warmUp(): no warm-up line, the backend first, warmUp null in the JSON', () => {
    const r = condis(['demo', '--backend', 'wire', '--pings', '1', '--cold']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout.split('\n')[0]).toMatch(/^wire backend: asked for \(--backend wire\)/);
    expect(r.stdout).not.toMatch(/^warm-up/m);
    expect(report(['--backend', 'wire', '--pings', '1', '--cold']).warmUp).toBeNull();
  }, 60_000);

  it('prints the warm-up, then the backend and its reason, then the report', () => {
    const r = condis(['demo', '--backend', 'wire', '--pings', '2']);
    expect(r.code, r.stderr).toBe(0);
    const lines = r.stdout.split('\n');
    expect(lines[0]).toMatch(/^warm-up {5}warmUp\(\): 300 deactivations on private wire pairs in \d+ ms/);
    expect(lines[1]).toMatch(/^wire backend: asked for \(--backend wire\)/);
    expect(r.stdout).toMatch(
      /^deactivate {2}NdisCmDeactivateVc under traffic: [1-9]\d* send\(s\) in flight/m,
    );
    expect(r.stdout).toMatch(/drained in \d+(\.\d)? µs/);
    expect(r.stdout).toMatch(/^inactive {4}0\/2 answered/m);
    expect(r.stdout).toMatch(/^B -> client +\d+ +\d+ +2 +0$/m);
    expect(r.stdout).toMatch(/^client -> B +\d+ +\d+ +- +0$/m);
    expect(r.stdout).toMatch(/^NDIS sequence of the VC/m);
  }, 60_000);

  it('--mermaid and --pcap write the diagram and every frame of the VC', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'condis-demo-'));
    try {
      const mmd = path.join(dir, 'demo.mmd');
      const pcap = path.join(dir, 'demo.pcap');
      const rep = report(['--backend', 'wire', '--mermaid', mmd, '--pcap', pcap]);
      const diagram = fs.readFileSync(mmd, 'utf8');
      expect(diagram).toMatch(/^sequenceDiagram\n/);
      for (const n of [
        'NdisClMakeCall',
        'NdisCmDeactivateVc',
        'ProtocolCmDeactivateVcComplete',
        'NdisCoDeleteVc',
      ])
        expect(diagram).toContain(n);
      expect(diagram).toMatch(/Note over Client: demo: deactivate under traffic/);
      // Both ways as endpoint A's NDIS passed them: the client's sends and the indications to it.
      expect(rep.pcap!.frames).toBe(rep.frames.fromClient.sent + rep.frames.toClient.received);
      const b = fs.readFileSync(pcap);
      expect(b.readUInt32LE(0)).toBe(0xa1b2c3d4);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  }, 60_000);

  it('SIGINT while paused mid-run: exit 130, cleaned up', async () => {
    const r = await interruptAt(['--backend', 'wire'], 'inactive');
    expect(r.code).toBe(130);
    expect(r.stderr).toMatch(/interrupted during inactive/);
  }, 60_000);

  it('usage errors and --help', () => {
    const h = condis(['demo', '--help']);
    expect(h.code).toBe(0);
    expect(h.stdout).toMatch(/^usage: condis demo/);
    expect(h.stdout).toMatch(/example: /);
    expect(condis(['demo', '--pings', '0']).stderr).toMatch(/--pings must be from 1 to 1000/);
    expect(condis(['demo', '--backend', 'ether']).stderr).toMatch(/--backend must be one of/);
    // demo is the first command of condis --help.
    expect(condis(['--help']).stdout).toMatch(/commands:\n {2}demo /);
  }, 60_000);
});

function hasPing(): boolean {
  try {
    return execFileSync('ping', ['-V'], { encoding: 'utf8' }).includes('iputils');
  } catch {
    return false;
  }
}

const tapEnabled = (() => {
  if (!tapTestsEnabled('cli-demo-tap')) return false;
  if (hasPing()) return true;
  const why = 'no iputils ping (Debian package iputils-ping)';
  if (process.env.CI === 'true') throw new Error(`cli-demo-tap: mandatory in CI but ${why}`);
  console.warn(`[skip] cli-demo-tap: ${why}`);
  return false;
})();

/** Neither the namespace nor the TAP of the demo run with process id `pid` exists. */
function nothingLeft(pid: number): void {
  const netns = execFileSync('ip', ['netns', 'list'], { encoding: 'utf8' });
  expect(netns).not.toContain(`condis-demo-${pid}`);
  const links = execFileSync('ip', ['-o', 'link'], { encoding: 'utf8' });
  expect(links).not.toContain(`condisD${pid % 100000}`);
  expect(fs.existsSync(`/sys/class/net/condisD${pid % 100000}`)).toBe(false);
}

describe.runIf(tapEnabled)('condis demo --backend tap (the kernel pings through VLAN 42)', () => {
  it('pings answered before and after the re-activation, none while inactive; nothing left', () => {
    const rep = report(['--backend', 'tap']);
    expect(rep.backend).toBe('tap');
    expect(rep.note).toMatch(/^tap backend: TAP condisD\d+ in namespace condis-demo-\d+/);
    expect(rep.pings.before).toEqual({ sent: 5, answered: 5 });
    expect(rep.pings.inactive).toEqual({ sent: 5, answered: 0 });
    expect(rep.pings.after).toEqual({ sent: 5, answered: 5 });
    // The flood was still running at the deactivation: part of it went unanswered.
    expect(rep.pings.underTraffic.answered).toBeGreaterThan(0);
    expect(rep.pings.underTraffic.answered).toBeLessThan(rep.pings.underTraffic.sent);
    expect(rep.frames.toClient.received).toBeGreaterThan(0);
    expect(rep.frames.fromClient.received).toBeGreaterThan(0);
    expect(rep.frames.fromClient.lost).toBe(0);
    expect(rep.frames.toClient.droppedInactive).toBeGreaterThanOrEqual(5);
    expect(rep.deactivation.status).toBe('SUCCESS');
    expect(Number.isFinite(rep.deactivation.drainUs)).toBe(true);
    expectSequence(rep);
    expect(rep.removed.some((x) => x.startsWith('TAP condisD'))).toBe(true);
    expect(rep.removed.some((x) => x.startsWith('namespace condis-demo-'))).toBe(true);
    const pid = Number(/condis-demo-(\d+)/.exec(rep.note)![1]);
    nothingLeft(pid);
  }, 90_000);

  it('SIGINT while paused with the VC inactive: exit 130, no namespace, no TAP', async () => {
    const r = await interruptAt(['--backend', 'tap'], 'inactive');
    expect(r.code, r.stderr).toBe(130);
    expect(r.stderr).toMatch(
      /interrupted during inactive; removed: .*namespace condis-demo-\d+.*TAP condisD\d+/,
    );
    nothingLeft(r.pid);
  }, 90_000);
});
