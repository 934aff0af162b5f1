// Cold deactivations (issue 12 point 4): each sample is a fresh process whose first deactivation
// is measured, on the wire (no privilege).
import { describe, expect, it } from 'vitest';
import { coldSample, runColdDrain } from '../../lib/scenarios/cold-drain';

describe('cold drain samples', () => {
  it('one fresh process per sample, one row per depth, the drain above its overhead', async () => {
    const seen: string[] = [];
    const rows = await runColdDrain({
      backend: 'wire',
      depths: [0, 4],
      samples: 2,
      onProgress: (done, total, label) => seen.push(`${done}/${total} ${label}`),
    });
    expect(rows.map((r) => [r.depth, r.samples])).toEqual([
      [0, 2],
      [4, 2],
    ]);
    for (const r of rows) {
      expect(r.drainUs.p50).toBeGreaterThan(0);
      expect(r.drainUs.max).toBeGreaterThanOrEqual(r.overheadUs.max);
    }
    expect(seen).toEqual([
      '1/4 cold, depth 0',
      '2/4 cold, depth 0',
      '3/4 cold, depth 4',
      '4/4 cold, depth 4',
    ]);
  }, 60_000);

  it('a sample after warmUp() runs from the TypeScript sources too (its dynamic import loads)', async () => {
    const s = await coldSample('wire', 1, 20);
    expect(s.depth).toBe(1);
    expect(s.drainUs).toBeGreaterThan(0);
  }, 60_000);

  it('a child that fails says why', async () => {
    await expect(coldSample('wire', 99_999)).rejects.toThrow(
      /cold drain sample \(depth 99999\) failed: exit 1: depths: 99999 is not a whole number 0..4096/,
    );
  }, 30_000);
});
