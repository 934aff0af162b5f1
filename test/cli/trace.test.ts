// `condis trace`: each flow prints the NDIS sequence of its spec §3 diagram, as Mermaid or JSON.

import { describe, expect, it } from 'vitest';
import { inOrder } from '../helpers/in-order';
import { runMain } from './helpers';

/** The arrows' NDIS names of a Mermaid diagram, in order. */
function names(mermaid: string): string[] {
  return [...mermaid.matchAll(/^ {2}\w+-(?:>>|\))\w+: (\w+)\(/gm)].map((m) => m[1]!);
}

const EXPECTED: Record<string, string[]> = {
  // §3.2
  'client-close': [
    'NdisClCloseCall',
    'ProtocolCmCloseCall',
    'NdisCmDeactivateVc',
    'MiniportCoDeactivateVc',
    'MiniportReturnNetBufferLists',
    'NdisMCoDeactivateVcComplete',
    'ProtocolCmDeactivateVcComplete',
    'NdisCmCloseCallComplete',
    'ProtocolClCloseCallComplete',
  ],
  // §3.3
  'incoming-close': [
    'NdisCmDispatchIncomingCloseCall',
    'ProtocolClIncomingCloseCall',
    'NdisCmDeactivateVc',
    'MiniportCoDeactivateVc',
    'NdisClCloseCall',
    'ProtocolCmCloseCall',
    'NdisMCoDeactivateVcComplete',
    'ProtocolCmDeactivateVcComplete',
    'NdisCmCloseCallComplete',
    'ProtocolClCloseCallComplete',
  ],
  // §3.4 (a)
  'mcm-deactivate': [
    'NdisMCmDeactivateVc',
    'NdisMCmDispatchIncomingCloseCall',
    'ProtocolClIncomingCloseCall',
    'NdisClCloseCall',
    'ProtocolCmCloseCall',
    'NdisMCmCloseCallComplete',
    'ProtocolClCloseCallComplete',
  ],
  // §3.5 (a)
  reactivate: ['NdisClModifyCallQoS', 'ProtocolCmModifyCallQoS', 'NdisCmActivateVc', 'MiniportCoActivateVc'],
};

describe('condis trace', () => {
  it.each(Object.keys(EXPECTED))('%s draws its spec §3 sequence in Mermaid', async (flow) => {
    const r = await runMain(['trace', '--mermaid', flow]);
    expect(r.code).toBe(0);
    expect(r.stdout.startsWith('sequenceDiagram\n')).toBe(true);
    const seq = names(r.stdout);
    expect(inOrder(seq, EXPECTED[flow]!), seq.join(' ')).toBe(true);
    // Never a deactivation in a re-activation (§3.5: no deactivate first).
    if (flow === 'reactivate') expect(seq.some((n) => n.includes('Deactivate'))).toBe(false);
    // Mermaid syntax: every line is a header, participant, arrow or note.
    for (const line of r.stdout.trimEnd().split('\n').slice(1)) {
      expect(line).toMatch(/^ {2}(participant \w+( as [\w ]+)?|\w+(->>|-\)|-->>)\w+: .+|Note over \w+: .+)$/);
    }
  });

  it('--json prints the events of the flow', async () => {
    const r = await runMain(['trace', '--json', 'client-close']);
    expect(r.code).toBe(0);
    const t = JSON.parse(r.stdout);
    expect(t.flow).toBe('client-close');
    expect(t.events.map((e: { name: string }) => e.name)).toContain('MiniportCoDeactivateVc');
  });
});
