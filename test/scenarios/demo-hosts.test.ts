// runDemo with the hosts backend: two real `condis node --trace` processes, each in a network
// namespace of its own, their TAPs joined by bridges and VXLAN over a veth underlay (lib/cluster),
// driven only through their control sockets. The same report as on the wire (test/helpers/
// demo-report.ts), both sides' NDIS sequences from two processes' traces merged on one clock in
// the diagram, and the cluster removed afterwards — also when the run is aborted mid-way.
// Root, and mandatory under CI=true (tapTestsEnabled).
import { describe, expect, it } from 'vitest';
import { listNamespaces } from '../../lib/cluster/netns';
import { DemoInterrupted, demoPassed, runDemo } from '../../lib/scenarios/demo';
import { expectDemoReport } from '../helpers/demo-report';
import { tapTestsEnabled } from '../helpers/privilege';

const enabled = tapTestsEnabled('runDemo --backend hosts');
const mine = () => listNamespaces().filter((ns) => ns.startsWith(`cd${process.pid}-`));

describe.skipIf(!enabled)('runDemo: two node processes in namespaces (hosts)', () => {
  it('the report of the wire, from two processes: the call, pings, B drained on RELEASE, both sequences', async () => {
    const r = await runDemo({ backend: 'hosts', pings: 2, diagram: true, warmUp: true });
    expect(r.backend).toBe('hosts');
    expect(r.note).toMatch(/^hosts backend: two node processes in namespaces /);
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
});
