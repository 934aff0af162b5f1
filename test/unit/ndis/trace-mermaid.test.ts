import { describe, expect, it } from 'vitest';
import { Harness } from '../../conformance/harness';

// Issue point 8: a client-initiated close, recorded, draws the WDK's deactivation figure
// (spec §3.2) from what really ran.
describe('trace of a client-initiated close (spec §3.2)', () => {
  it('has the figure order of calls, handlers and completions', () => {
    const h = new Harness({ mode: 'async' });
    const vc = h.outgoingCall();
    h.ndis.trace!.clear();
    h.clock.advance(5);
    h.closeCall(vc);
    expect(h.ndis.trace!.names((e) => e.vc !== undefined)).toEqual([
      'NdisClCloseCall',
      'ProtocolCmCloseCall',
      'NdisCmDeactivateVc',
      'MiniportCoDeactivateVc',
      'NdisMCoDeactivateVcComplete',
      'ProtocolCmDeactivateVcComplete',
      'NdisCmCloseCallComplete',
      'ProtocolClCloseCallComplete',
    ]);
    const ev = h.ndis.trace!.toJSON();
    expect(ev.every((e) => e.time === 5)).toBe(true);
    expect(ev.map((e) => e.seq)).toEqual([...ev.keys()].map((i) => ev[0]!.seq + i));
    expect(JSON.parse(JSON.stringify(ev))).toEqual(ev);
  });

  it('exports a Mermaid sequence diagram', () => {
    const h = new Harness({ mode: 'async' });
    const vc = h.outgoingCall();
    h.ndis.trace!.clear();
    h.closeCall(vc);
    const slot = h.info(vc).slot;
    expect(h.ndis.trace!.toMermaid({ states: false })).toBe(
      [
        'sequenceDiagram',
        '  participant Client',
        '  participant NDIS',
        '  participant CM as Call manager',
        '  participant Miniport',
        `  Client->>NDIS: NdisClCloseCall(vc${slot})`,
        `  NDIS->>CM: ProtocolCmCloseCall(vc${slot})`,
        '  CM-->>NDIS: PENDING',
        '  NDIS-->>Client: PENDING',
        `  CM->>NDIS: NdisCmDeactivateVc(vc${slot})`,
        `  NDIS->>Miniport: MiniportCoDeactivateVc(vc${slot})`,
        '  Miniport-->>NDIS: PENDING',
        '  NDIS-->>CM: PENDING',
        `  Miniport-)NDIS: NdisMCoDeactivateVcComplete(SUCCESS, vc${slot}, when drained)`,
        `  NDIS-)CM: ProtocolCmDeactivateVcComplete(SUCCESS, vc${slot})`,
        `  CM-)NDIS: NdisCmCloseCallComplete(SUCCESS, vc${slot})`,
        `  NDIS-)Client: ProtocolClCloseCallComplete(SUCCESS, vc${slot})`,
        '',
      ].join('\n'),
    );
    const withStates = h.ndis.trace!.toMermaid();
    expect(withStates).toContain(`Note over NDIS: vc${slot} A=DEACTIVATING C=CLOSING`);
    expect(withStates).toContain(`Note over NDIS: vc${slot} A=INACTIVE C=IDLE`);
  });

  it('draws an MCM as one participant', () => {
    const h = new Harness({ mode: 'async', mcm: true });
    const vc = h.outgoingCall();
    h.closeCall(vc);
    const m = h.ndis.trace!.toMermaid({ states: false });
    expect(m).toContain('participant MCM');
    expect(m).not.toContain('participant Miniport');
    expect(m).toContain('MCM->>NDIS: NdisMCmDeactivateVc');
  });
});

describe('Trace ring buffer', () => {
  it('keeps the newest `capacity` events in order', async () => {
    const { Trace, ManualClock } = await import('../../../lib/ndis');
    const t = new Trace(new ManualClock(), 3);
    for (let i = 0; i < 5; i++) t.record({ kind: 'note', from: 'NDIS', to: 'NDIS', name: `n${i}` });
    expect(t.events.map((e) => e.name)).toEqual(['n2', 'n3', 'n4']);
    expect(t.last()?.name).toBe('n4');
    expect(t.events.map((e) => e.seq)).toEqual([2, 3, 4]);
  });
});
