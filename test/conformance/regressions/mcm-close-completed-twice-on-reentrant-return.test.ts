/**
 * Regression (fresh-seed hunt, seed -537126210 with CONDIS_PROPERTY_RUNS=5000, sync, mcm=true):
 * ERR_CONDIS_E20, NdisMCmCloseCallComplete without a pended close: the harness's MCM completed one
 * close twice.
 *
 * Two VCs were draining in the MCM. Reporting the first (NdisMCmDeactivateVc) made NDIS deliver
 * what it had queued first (the catch-up rule), among it a receive handed straight back to the MCM
 * for the other VC (MiniportReturnNetBufferLists). That return ended the other VC's drain, and the
 * MCM's nested poke reported it and completed its close. The outer poke, still walking its copy of
 * the list, then reported that VC again and completed its close a second time.
 *
 * The fault was the harness's MCM: NDIS may call a miniport's MiniportReturnNetBufferLists at any
 * time, from inside the miniport's own NDIS calls too, and the MCM's loop did not re-check an entry
 * a nested call had already handled. It does now.
 */
import { describe, expect, it } from 'vitest';
import { MODES_AND_MCM } from '../harness';
import { type Op, runInterleaving } from '../interleavings';

const COUNTEREXAMPLE: Op[] = [
  { t: 'newIn', accept: true },
  { t: 'sendsOnDeactivate', finish: true },
  { t: 'newOut' },
  { t: 'send', i: 7, n: 1 },
  { t: 'cmDeactivate', i: 1 },
  { t: 'incomingClose', i: 0, ok: false },
  { t: 'indicate', i: 0, n: 1, res: false },
  { t: 'close', i: 0 },
  { t: 'complete', k: 1, abort: false },
];

describe('regression: the MCM completes each close once, even when NDIS calls it back re-entrantly', () => {
  it.each(MODES_AND_MCM)('the pinned counterexample keeps every invariant (%s, mcm=%s)', (mode, mcm) => {
    expect(runInterleaving(mode, mcm, COUNTEREXAMPLE)).toEqual([]);
  });
});
