/**
 * What the demo reads out of each node's NDIS trace (lib/ndis/trace.ts, the node's `trace`
 * reply): how a deactivation ended (did it pend?), and the call VC's NDIS sequence — the events
 * worth showing and the compact lines of the report. Pure functions over recorded events. (The
 * drain's length and what was outstanding come from the node's ended-call row, NDIS's
 * DeactivationRecord.)
 *
 * Layer: scenarios (lib/scenarios/demo.ts uses it); reads lib/ndis's trace, runs nothing.
 */
import type { TraceEvent } from '../ndis/trace';

/** Names of the data path's calls and handlers (sends, receives, returns, completions). */
const DATA_PATH = /NetBufferLists/;
/** NdisReturnNetBufferLists and MiniportReturnNetBufferLists. */
const RETURNS = /ReturnNetBufferLists$/;

/** Prefix of the demo's step notes in the trace (`demo: make the call`). */
export const STEP_NOTE = 'demo: ';

/**
 * How the deactivation (the first NdisCmDeactivateVc at or after `fromSeq`) ended: its status, and
 * whether it pended (ended in ProtocolCmDeactivateVcComplete); null if there was none, or it has
 * not ended.
 */
export function deactivationOutcome(
  events: readonly TraceEvent[],
  slot: number,
  fromSeq: number,
): { status: string; pended: boolean } | null {
  const start = events.find(
    (e) => e.seq >= fromSeq && e.vc === slot && e.kind === 'call' && e.name === 'NdisCmDeactivateVc',
  );
  const end = start ? deactivationEnd(events, slot, start) : undefined;
  if (!end) return null;
  return { status: end.status ?? 'SUCCESS', pended: end.kind === 'deliver' };
}

/** Pended: ProtocolCmDeactivateVcComplete; else the return of NdisCmDeactivateVc itself. */
function deactivationEnd(
  events: readonly TraceEvent[],
  slot: number,
  start: TraceEvent,
): TraceEvent | undefined {
  return events.find(
    (e) =>
      e.seq > start.seq &&
      e.vc === slot &&
      ((e.kind === 'deliver' && e.name === 'ProtocolCmDeactivateVcComplete') ||
        (e.kind === 'return' && e.status !== undefined && e.status !== 'PENDING')),
  );
}

/**
 * Events of the diagram: the VC's control path (calls with their returns, handlers, completions,
 * states), the demo's step notes, and the data path only from NdisCmDeactivateVc of the
 * deactivation under traffic to its completion.
 */
export function keptEvents(events: readonly TraceEvent[], slot: number, fromSeq: number): Set<number> {
  const start = events.find(
    (e) => e.seq >= fromSeq && e.vc === slot && e.kind === 'call' && e.name === 'NdisCmDeactivateVc',
  );
  const end = start ? deactivationEnd(events, slot, start) : undefined;
  const inDrain = (s: number) => start !== undefined && s >= start.seq && s <= (end?.seq ?? start.seq);
  const keep = new Set<number>();
  // Control calls return in LIFO order (the data path's calls return nothing).
  const calls: TraceEvent[] = [];
  for (const e of events) {
    if (e.kind === 'note') {
      if (e.name.startsWith(STEP_NOTE)) keep.add(e.seq);
    } else if (e.kind === 'return') {
      const c = calls.pop();
      // NdisCoCreateVc is traced before the VC has a slot; its return names the slot.
      if (c && (keep.has(c.seq) || e.vc === slot)) {
        keep.add(c.seq);
        keep.add(e.seq);
      }
    } else {
      if (e.kind === 'call' && !DATA_PATH.test(e.name)) calls.push(e);
      if (e.vc === slot && (!DATA_PATH.test(e.name) || inDrain(e.seq))) keep.add(e.seq);
      // Returns name no VC (NDIS hands an NBL back to its miniport by binding), yet a protocol's
      // return is what ends a drain that waits for held receives: shown while the drain runs.
      else if (e.vc === undefined && RETURNS.test(e.name) && inDrain(e.seq)) keep.add(e.seq);
    }
  }
  return keep;
}

/**
 * The sequence as lines: step notes as headers; each kept call, handler and completion by name
 * with the status it returned or carried; the data path outside the drain collapsed into
 * "(N data-path events)".
 */
export function compactSequence(events: readonly TraceEvent[], keep: Set<number>, slot: number): string[] {
  // The status each kept call / handler returned.
  const result = new Map<number, string>();
  const open: TraceEvent[] = [];
  for (const e of events) {
    if (e.kind === 'call' && !DATA_PATH.test(e.name)) open.push(e);
    else if (e.kind === 'return') {
      const c = open.pop();
      if (c && e.status) result.set(c.seq, e.status);
    }
  }
  const handlers: TraceEvent[] = [];
  for (const e of events) {
    if (e.kind === 'handler') handlers.push(e);
    else if (e.kind === 'handler-return') {
      const h = handlers.pop();
      if (h && e.status) result.set(h.seq, e.status);
    }
  }
  const out: string[] = [];
  let skipped = 0;
  const flush = () => {
    if (skipped > 0) out.push(`  (${skipped} data-path events)`);
    skipped = 0;
  };
  for (const e of events) {
    if (e.kind === 'note' && keep.has(e.seq)) {
      flush();
      out.push(`# ${e.name.slice(STEP_NOTE.length)}`);
      continue;
    }
    if (e.kind !== 'call' && e.kind !== 'handler' && e.kind !== 'complete-call' && e.kind !== 'deliver')
      continue;
    if (keep.has(e.seq)) {
      flush();
      const r = result.get(e.seq);
      // A data-path event's detail is its NBL count (n=9): how much the drain waited for.
      const n = DATA_PATH.test(e.name) && e.detail ? ` ${e.detail}` : '';
      out.push(`  ${e.name}${e.status ? `(${e.status})` : ''}${n}${r ? ` -> ${r}` : ''}`);
    } else if (e.vc === slot && DATA_PATH.test(e.name)) skipped++;
  }
  flush();
  return out;
}
