// lib/ has no import cycles, type imports counted: DESIGN.md's layers point down only, and a
// cycle is where a module and the one it uses each reach into the other (issue 10, point 5: the
// miniport's adapter and its control, send and receive modules imported each other). madge's
// API, with its TypeScript detective told to keep `import type` edges (skipTypeImports: false),
// as `npx madge --circular --extensions ts --ts-config tsconfig.json lib/` reports them.
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';

/** The part of madge's API this test uses (madge ships no type declarations). */
interface MadgeResult {
  obj(): Record<string, string[]>;
  circular(): string[][];
}
type Madge = (path: string, config: Record<string, unknown>) => Promise<MadgeResult>;

const ROOT = join(__dirname, '../..');
const madge = createRequire(__filename)('madge') as Madge;

describe('import cycles', () => {
  it('lib/ has none, type imports counted', async () => {
    const detective = { skipTypeImports: false, mixedImports: true };
    const result = await madge(join(ROOT, 'lib'), {
      fileExtensions: ['ts'],
      tsConfig: join(ROOT, 'tsconfig.json'),
      detectiveOptions: { ts: detective, tsx: detective, es6: detective },
    });
    // The graph is lib/ itself: a run that found nothing would pass vacuously.
    const graph = result.obj();
    expect(Object.keys(graph)).toContain('miniport/adapter.ts');
    expect(graph['miniport/adapter.ts']?.length).toBeGreaterThan(0);
    const cycles = result.circular().map((c) => c.join(' > '));
    expect(cycles, `import cycles in lib/:\n${cycles.join('\n')}`).toEqual([]);
  }, 60_000);
});
