// The adapter's state is private (issue 10, point 5): the pairs pool, the VID map, the VC set and
// the drain-end guard are AdapterState's (lib/miniport/state.ts), behind methods that say what
// they do, and MiniportAdapter shows read-only views. Checked by the type checker (npm run
// typecheck covers test/): an internal back on the public type, or a view made writable, fails it.
import { describe, expectTypeOf, it } from 'vitest';
import type { MiniportAdapter } from '../../lib/miniport';

describe('MiniportAdapter keeps its state private', () => {
  it('has no public internals', () => {
    expectTypeOf<MiniportAdapter>().not.toHaveProperty('st');
    expectTypeOf<MiniportAdapter>().not.toHaveProperty('freePairs');
    expectTypeOf<MiniportAdapter>().not.toHaveProperty('vcByVid');
    expectTypeOf<MiniportAdapter>().not.toHaveProperty('vcs');
    expectTypeOf<MiniportAdapter>().not.toHaveProperty('deactivating');
    expectTypeOf<MiniportAdapter>().not.toHaveProperty('touchedPairs');
    expectTypeOf<MiniportAdapter>().not.toHaveProperty('servicePair');
    expectTypeOf<MiniportAdapter>().not.toHaveProperty('resetQueue');
  });

  it('shows its pairs read-only', () => {
    expectTypeOf<MiniportAdapter['pairs']>().toMatchTypeOf<ReadonlyArray<unknown>>();
    expectTypeOf<MiniportAdapter['pairs']>().not.toMatchTypeOf<unknown[]>();
  });
});
