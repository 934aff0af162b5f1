// The demo as a library (lib/scenarios/demo.ts): runDemo called from a program, not through the CLI.
// The report's numbers, the events in the order the phases end, the pcap and the Mermaid diagram,
// and the AbortSignal: aborted before a step or before the run, it removes what it created and
// rejects with DemoInterrupted naming the step. The wire always; the TAP as root (mandatory under
// CI=true). The run's own waits (lib/scenarios/demo-run.ts) are checked apart: a condition is
// re-checked only when poked, and a deadline or an abort ends the wait without a timer left behind.
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  type DemoEvent,
  DemoInterrupted,
  type DemoStep,
  demoPassed,
  runDemo,
} from '../../lib/scenarios/demo';
import { DemoRun } from '../../lib/scenarios/demo-run';
import { inOrder } from '../helpers/in-order';
import { tapTestsEnabled } from '../helpers/privilege';

function inSequence(seq: readonly string[], names: readonly string[]): boolean {
  return inOrder(seq, names, (entry, name) => entry.trim().startsWith(name));
}

describe('runDemo on the wire', () => {
  it('returns the typed report: pings, frames, the drain under traffic, the sequence, pcap and diagram', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'condis-run-demo-'));
    try {
      const pcap = path.join(dir, 'demo.pcap');
      const events: DemoEvent[] = [];
      const steps: DemoStep[] = [];
      const r = await runDemo({
        backend: 'wire',
        pings: 3,
        pcap,
        diagram: true,
        beforeStep: (s) => {
          steps.push(s);
        },
        onEvent: (e) => events.push(e),
      });
      expect(r.backend).toBe('wire');
      expect(r.pings.before).toEqual({ sent: 3, answered: 3 });
      expect(r.pings.inactive).toEqual({ sent: 3, answered: 0 });
      expect(r.pings.after).toEqual({ sent: 3, answered: 3 });
      expect(r.pings.underTraffic.answered).toBe(r.pings.underTraffic.sent);
      expect(r.frames.toClient.lost).toBe(0);
      expect(r.frames.fromClient.lost).toBe(0);
      expect(r.frames.toClient.droppedInactive).toBe(3);
      expect(r.frames.fromClient.received).toBe(r.frames.fromClient.sent);
      // B's ring was full: exactly the replies beyond it were on A's transmit ring.
      expect(r.deactivation).toMatchObject({ status: 'SUCCESS', pended: true, receivesHeld: 0 });
      expect(r.deactivation.sendsInFlight).toBe(8);
      expect(r.deactivation.drainUs).toBeGreaterThan(0);
      expect(r.reactivation).toEqual({ status: 'SUCCESS', maxSduSize: 1200 });
      expect(r.close).toBe('SUCCESS');
      expect(
        inSequence(r.sequence, [
          '# make the call',
          'NdisClMakeCall -> SUCCESS',
          '# deactivate under traffic',
          'NdisCmDeactivateVc -> PENDING',
          'NdisMCoDeactivateVcComplete(SUCCESS)',
          'ProtocolCmDeactivateVcComplete(SUCCESS)',
          '# re-activate',
          'NdisCmActivateVc -> SUCCESS',
          '# delete the VC',
          'NdisCoDeleteVc -> SUCCESS',
        ]),
        r.sequence.join('\n'),
      ).toBe(true);
      expect(r.verifierViolations).toBe(0);
      expect(r.removed).toEqual([]);
      expect(demoPassed(r)).toBe(true);
      // The observer saw both ways as NDIS did: the client's sends and the indications to it.
      expect(r.pcap).toEqual({ file: pcap, frames: r.frames.fromClient.sent + r.frames.toClient.received });
      expect(fs.statSync(pcap).size).toBeGreaterThan(24 + r.pcap!.frames * 16);
      expect(r.diagram).toMatch(/^sequenceDiagram\n/);
      expect(r.diagram).toContain('Note over Client: demo: deactivate under traffic');
      // Each phase reported as it ended, every step announced before it.
      expect(events.map((e) => e.kind)).toEqual([
        'topology',
        'call',
        'ping',
        'deactivated',
        'inactive',
        'reactivated',
        'ping',
        'closed',
      ]);
      expect(steps).toEqual([
        'call',
        'ping',
        'deactivate',
        'inactive',
        'reactivate',
        'ping-again',
        'close',
        'delete',
      ]);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  }, 60_000);

  it('an abort while paused before a step: DemoInterrupted names it, the reason is its cause', async () => {
    const ac = new AbortController();
    const err = await runDemo({
      backend: 'wire',
      pings: 1,
      signal: ac.signal,
      beforeStep: (s) => {
        if (s !== 'inactive') return undefined;
        setImmediate(() => ac.abort('stop here'));
        return new Promise<never>(() => {});
      },
    }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(DemoInterrupted);
    const i = err as DemoInterrupted;
    expect(i.name).toBe('AbortError');
    expect(i.step).toBe('inactive');
    expect(i.cause).toBe('stop here');
    expect(i.removed).toEqual([]);
    // Its devices are gone: the next run gets the same VC and passes.
    expect(demoPassed(await runDemo({ backend: 'wire', pings: 1 }))).toBe(true);
  }, 60_000);

  it('an already aborted signal: nothing is created', async () => {
    const err = await runDemo({ backend: 'wire', signal: AbortSignal.abort('no') }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(DemoInterrupted);
    expect((err as DemoInterrupted).step).toBe('setup');
  });

  it('pings out of range is refused before anything is created', async () => {
    await expect(runDemo({ pings: 0 })).rejects.toThrow(RangeError);
  });
});

describe('DemoRun waits', () => {
  it('when(): re-checked at each poke, resolved once the condition holds', async () => {
    const run = new DemoRun(undefined, () => {});
    let n = 0;
    let resolved = false;
    const w = run
      .when(() => n >= 2, 'n to reach 2')
      .then(() => {
        resolved = true;
      });
    n = 2; // not poked yet: nobody looks
    await Promise.resolve();
    expect(resolved).toBe(false);
    run.poke();
    await w;
    expect(resolved).toBe(true);
    run.dispose();
  });

  it('when(): a deadline ends a wait nobody pokes', async () => {
    const run = new DemoRun(undefined, () => {});
    await expect(run.when(() => false, 'never', 20)).rejects.toThrow('timed out waiting for never');
    run.dispose();
  });

  it('an abort fails the pending waits at once and guard() rejects', async () => {
    const ac = new AbortController();
    const run = new DemoRun(ac.signal, () => {});
    const w = run.when(() => false, 'never', 60_000);
    const g = run.guard(new Promise(() => {}));
    ac.abort();
    await expect(w).rejects.toThrow();
    await expect(g).rejects.toThrow();
    run.dispose();
  });

  it('teardown: newest first, a failure reported and the rest still run', async () => {
    const failed: string[] = [];
    const run = new DemoRun(undefined, (what, e) => failed.push(`${what}: ${e.message}`));
    const order: string[] = [];
    run.defer('first', () => {
      order.push('first');
    });
    run.defer('broken', () => {
      throw new Error('boom');
    });
    run.defer('', () => {
      order.push('unnamed');
    });
    await run.teardown();
    expect(order).toEqual(['unnamed', 'first']);
    expect(run.removed).toEqual(['first']);
    expect(failed).toEqual(['broken: boom']);
  });
});

function hasPing(): boolean {
  try {
    return execFileSync('ping', ['-V'], { encoding: 'utf8' }).includes('iputils');
  } catch {
    return false;
  }
}

const tapEnabled = (() => {
  if (!tapTestsEnabled('run-demo-tap')) return false;
  if (hasPing()) return true;
  const why = 'no iputils ping (Debian package iputils-ping)';
  if (process.env.CI === 'true') throw new Error(`run-demo-tap: mandatory in CI but ${why}`);
  console.warn(`[skip] run-demo-tap: ${why}`);
  return false;
})();

describe.runIf(tapEnabled)('runDemo on a TAP (the kernel pings through VLAN 42)', () => {
  it('aborted with the VC inactive: the namespace and the TAP are removed, and named', async () => {
    const ac = new AbortController();
    const err = await runDemo({
      backend: 'tap',
      pings: 1,
      signal: ac.signal,
      beforeStep: (s) => {
        if (s !== 'inactive') return undefined;
        ac.abort('SIGINT');
        return undefined;
      },
    }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(DemoInterrupted);
    const i = err as DemoInterrupted;
    expect(i.step).toBe('inactive');
    expect(i.removed).toEqual([
      `namespace condis-demo-${process.pid} (and the pings in it)`,
      `TAP condisD${process.pid % 100000}`,
    ]);
    expect(execFileSync('ip', ['netns', 'list'], { encoding: 'utf8' })).not.toContain(
      `condis-demo-${process.pid}`,
    );
    expect(fs.existsSync(`/sys/class/net/condisD${process.pid % 100000}`)).toBe(false);
  }, 90_000);
});
