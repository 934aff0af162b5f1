// The demo as a library (lib/scenarios/demo.ts): runDemo called from a program, not through the CLI.
// Two nodes (the stack of `condis node`: NDIS, the reference miniport, the signalling call
// manager, the node's client) on the in-process wire: the call with SETUP/CONNECT, the pings, the
// RELEASE under traffic with B's drain, the NDIS sequence of both sides, the pcap and the Mermaid
// diagram, and the AbortSignal: aborted before a step or before the run, it removes what it
// created and rejects with DemoInterrupted naming the step. The run's own waits
// (lib/scenarios/demo-run.ts) are checked apart: poll asks until the answer holds, and a deadline
// or an abort ends the wait. The hosts backend (two node processes in namespaces) is
// test/scenarios/demo-hosts.test.ts.
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
import { expectDemoReport } from '../helpers/demo-report';

describe('runDemo: two nodes on the wire, the signalling call manager', () => {
  it('returns the typed report: the call, pings, B drained under traffic, RELEASE, both sequences, pcap, diagram', async () => {
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
      expectDemoReport(r, 3);
      expect(r.removed).toEqual([]);
      expect(demoPassed(r)).toBe(true);
      // The observer saw A's data path both ways: the call's frames and the signalling VC's.
      expect(r.pcap!.file).toBe(pcap);
      expect(r.pcap!.frames).toBeGreaterThan(r.frames.aToB.sent + r.frames.bToA.received);
      expect(fs.statSync(pcap).size).toBeGreaterThan(24 + r.pcap!.frames * 16);
      // One diagram, both sides' parties, the step notes once over both.
      const d = r.diagram!;
      expect(d).toMatch(/^sequenceDiagram\n/);
      for (const p of [
        'AClient as A client',
        'ACM as A call manager',
        'BMiniport as B miniport',
        'BClient as B client',
      ])
        expect(d).toContain(`participant ${p}`);
      expect(d).toContain('Note over AClient,BClient: demo: release under traffic');
      expect(d.indexOf('AClient->>ANDIS: NdisClMakeCall')).toBeLessThan(
        d.indexOf('BNDIS->>BClient: ProtocolClIncomingCall'),
      );
      expect(d).toContain('BNDIS-)BCM: ProtocolCmDeactivateVcComplete(SUCCESS');
      // Each phase reported as it ended, every step announced before it.
      expect(events.map((e) => e.kind)).toEqual(['topology', 'call', 'ping', 'released']);
      expect(steps).toEqual(['call', 'ping', 'release']);
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
        if (s !== 'release') return undefined;
        setImmediate(() => ac.abort('stop here'));
        return new Promise<never>(() => {});
      },
    }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(DemoInterrupted);
    const i = err as DemoInterrupted;
    expect(i.name).toBe('AbortError');
    expect(i.step).toBe('release');
    expect(i.cause).toBe('stop here');
    expect(i.removed).toEqual([]);
    // Its nodes stopped (the call closed) and its devices are gone: the next run passes.
    expect(demoPassed(await runDemo({ backend: 'wire', pings: 1 }))).toBe(true);
  }, 60_000);

  it('an already aborted signal: nothing is created', async () => {
    const err = await runDemo({ backend: 'wire', signal: AbortSignal.abort('no') }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(DemoInterrupted);
    expect((err as DemoInterrupted).step).toBe('setup');
  });

  it('pings out of range is refused before anything is created', async () => {
    await expect(runDemo({ pings: 0 })).rejects.toMatchObject({ code: 'ERR_CONDIS_INVALID_ARG' });
  });
});

describe('DemoRun waits', () => {
  it('poll(): asks until the answer holds, and returns it', async () => {
    const run = new DemoRun(undefined, () => {});
    let asked = 0;
    const v = await run.poll(async () => (++asked >= 3 ? asked : null), 'the third ask', 5_000, 1);
    expect(v).toBe(3);
    expect(asked).toBe(3);
    run.dispose();
  });

  it('poll(): a deadline ends a wait whose answer never holds', async () => {
    const run = new DemoRun(undefined, () => {});
    await expect(run.poll(async () => null, 'never', 20, 1)).rejects.toThrow('timed out waiting for never');
    run.dispose();
  });

  it('an abort ends a poll at once and guard() rejects', async () => {
    const ac = new AbortController();
    const run = new DemoRun(ac.signal, () => {});
    const w = run.poll(async () => null, 'never', 60_000, 1);
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
