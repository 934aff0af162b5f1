// prune-dist.mjs — removes from dist/ what no source compiles to any more: dist/lib/x.js (.map,
// .d.ts, .d.ts.map) whose lib/x.ts is gone (renamed or deleted). Run after tsc by "prepare".
// Why: tsc writes what its sources produce and never deletes, so a tree packed after a rename
// shipped the old module and a source map naming a source the package does not have (the tarball
// test caught dist/lib/scenarios/demo-peers.js). Why not delete dist/ first: the tests rebuild
// dist while other test files run programs from it.
import { readdirSync, rmSync } from 'node:fs';
import { existsSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const OUTPUTS = /\.(js|js\.map|d\.ts|d\.ts\.map)$/;

function prune(dir) {
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) prune(p);
    else if (OUTPUTS.test(e.name)) {
      const source = join(root, relative(join(root, 'dist'), p).replace(OUTPUTS, '.ts'));
      if (!existsSync(source)) rmSync(p);
    }
  }
}

for (const top of ['lib', 'scripts']) if (existsSync(join(root, 'dist', top))) prune(join(root, 'dist', top));
