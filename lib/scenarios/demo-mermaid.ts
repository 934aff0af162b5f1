/**
 * Both nodes' NDIS sequences as one Mermaid sequenceDiagram (the demo's --mermaid): A's parties
 * on the left (client, NDIS, call manager, miniport), B's mirrored on the right, the kept events
 * of both traces merged by their time stamps. Each runtime stamps with performance.now() of its
 * own process; adding that process's offset to CLOCK_MONOTONIC (the node's `trace` reply carries
 * it) puts both on the machine's one monotonic clock, so the merge is the order in which things
 * ran, in one process or in two. The wire
 * between the miniports is not an NDIS party and is not drawn: a SETUP on A's side is followed by
 * what B did with it.
 *
 * Layer: scenarios; reads lib/ndis's trace (the same events Trace.toMermaid draws), runs nothing.
 */
import type { Party, TraceEvent } from '../ndis/trace';

/** One side: its trace's events, their clock's offset to CLOCK_MONOTONIC (ms), the seqs to draw (keptEvents). */
export interface MermaidSide {
  events: readonly TraceEvent[];
  monotonicOffsetMs: number;
  keep: Set<number>;
}

const A_PARTIES: readonly Party[] = ['Client', 'NDIS', 'CallManager', 'Miniport'];
const LABEL: Record<Party, string> = {
  Client: 'client',
  NDIS: 'NDIS',
  CallManager: 'call manager',
  Miniport: 'miniport',
  MCM: 'MCM',
};
const SIDES = ['A', 'B'] as const;

function id(side: string, p: Party): string {
  return `${side}${p === 'CallManager' ? 'CM' : p}`;
}

export function bothSidesMermaid(sides: readonly [MermaidSide, MermaidSide]): string {
  const lines = ['sequenceDiagram'];
  for (const p of A_PARTIES) lines.push(`  participant ${id('A', p)} as A ${LABEL[p]}`);
  for (const p of [...A_PARTIES].reverse()) lines.push(`  participant ${id('B', p)} as B ${LABEL[p]}`);
  const merged: { side: string; t: number; e: TraceEvent }[] = [];
  sides.forEach((s, k) => {
    for (const e of s.events)
      if (s.keep.has(e.seq)) merged.push({ side: SIDES[k]!, t: s.monotonicOffsetMs + e.time, e });
  });
  // Stable: events of one side keep their order; equal stamps put A first.
  merged.sort((x, y) => (x.side === y.side ? x.e.seq - y.e.seq : x.t - y.t || (x.side < y.side ? -1 : 1)));
  const seen = new Set<string>();
  for (const { side, e } of merged) {
    const from = id(side, e.from);
    const to = id(side, e.to);
    const vc = e.vc !== undefined ? `vc${e.vc}` : '';
    const args = [vc, e.detail].filter(Boolean).join(', ');
    switch (e.kind) {
      case 'call':
      case 'handler':
        lines.push(`  ${from}->>${to}: ${e.name}(${args})`);
        break;
      case 'complete-call':
      case 'deliver':
        lines.push(`  ${from}-)${to}: ${e.name}(${[e.status, args].filter(Boolean).join(', ')})`);
        break;
      case 'return':
      case 'handler-return':
        lines.push(`  ${from}-->>${to}: ${e.status ?? 'return'}`);
        break;
      case 'note': {
        // The step notes are written on both sides: one note over both.
        if (seen.has(e.name)) break;
        seen.add(e.name);
        lines.push(`  Note over AClient,BClient: ${e.name}`);
        break;
      }
    }
  }
  return `${lines.join('\n')}\n`;
}
