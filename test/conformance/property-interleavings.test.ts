/**
 * Property test: random interleavings of calls, sends, receives, returns, activations,
 * deactivations, closes and deletes keep the invariants of spec §2 (the op interpreter and the
 * invariants: interleavings.ts), in both handler modes, with a stand-alone CM and with an MCM.
 * Seeds: test/helpers/property.ts. Counterexamples found so far: regressions/.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { assertProperty, PROPERTY_TIMEOUT_MS } from '../helpers/property';
import { MODES_AND_MCM } from './harness';
import { op, runInterleaving } from './interleavings';

describe('property: random interleavings keep the drain and state invariants', {
  timeout: PROPERTY_TIMEOUT_MS,
}, () => {
  it.each(MODES_AND_MCM)('%s, mcm=%s', (mode, mcm) => {
    assertProperty(
      fc.property(fc.array(op, { maxLength: 60, size: 'max' }), (ops) => {
        expect(runInterleaving(mode, mcm, ops)).toEqual([]);
      }),
      { numRuns: 150 },
    );
  });
});
