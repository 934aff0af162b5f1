/**
 * scripts/prune-dist.mjs ("prepare" runs it after tsc): an output whose source is gone (a
 * renamed or deleted module) leaves dist/, so a tarball packed from a working tree ships no stale
 * module and no source map naming a missing source; outputs of existing sources stay.
 */
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { ROOT } from './packed';

describe('prune-dist', () => {
  it('removes the outputs of a source that is gone, keeps the rest', () => {
    const dir = path.join(ROOT, 'dist/lib/scenarios');
    fs.mkdirSync(dir, { recursive: true });
    const stale = `zz-gone-${process.pid}`;
    const made = ['.js', '.js.map', '.d.ts', '.d.ts.map'].map((x) => path.join(dir, stale + x));
    for (const f of made) fs.writeFileSync(f, '');
    // A compiled module whose source exists (written if the tree has no build yet).
    const kept = path.join(dir, 'demo.js');
    const hadKept = fs.existsSync(kept);
    if (!hadKept) fs.writeFileSync(kept, '');
    try {
      execFileSync(process.execPath, [path.join(ROOT, 'scripts/prune-dist.mjs')], { cwd: ROOT });
      for (const f of made) expect(fs.existsSync(f), f).toBe(false);
      expect(fs.existsSync(kept)).toBe(true);
    } finally {
      for (const f of made) fs.rmSync(f, { force: true });
      if (!hadKept) fs.rmSync(kept, { force: true });
    }
  });
});
