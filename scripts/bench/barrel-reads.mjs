// barrel-reads.mjs — what one read of a package export costs a user, by the way it is reached:
// through the CommonJS barrel (dist/lib/index.js: TypeScript compiles `export * from` and
// `export * as ndis` to Object.defineProperty getters, so `lib.Ndis` and `ndis.X` are getter
// calls), through the ESM entry (dist/esm/index.mjs, scripts/build-esm.mjs: plain bindings and a
// frozen plain copy of `ndis`), through a plain-property copy of the barrel (what `exports.X = X`
// in the CJS barrel would give), and from a destructured const. Beside the layer picture: a
// measurement of the packaging, quoted in README "Using it as a dependency".
//
//   npm run build:all && node scripts/bench/barrel-reads.mjs [reads=20000000] [reps=7]
//
// Prints the median ns per read of `reps` runs of `reads` reads each (after a warm-up run).
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '../..');
const cjs = createRequire(import.meta.url)(join(root, 'dist/lib/index.js'));
const esm = await import(join(root, 'dist/esm/index.mjs'));
const reads = Number(process.argv[2] ?? 20_000_000);
const reps = Number(process.argv[3] ?? 7);

// Each variant reads a status constant through its namespace object and the Ndis class through
// the package root, as a user's per-packet code would; the sum keeps the reads alive.
const plainBarrel = { ...cjs, ndis: { ...cjs.ndis } };
const { NDIS_STATUS_PENDING } = cjs.ndis;
const { Ndis } = cjs;
const variants = {
  'CJS barrel (getters): lib.ndis.X, lib.Ndis': (n) => {
    let s = 0;
    for (let i = 0; i < n; i++) s += cjs.ndis.NDIS_STATUS_PENDING + (cjs.Ndis === undefined ? 1 : 0);
    return s;
  },
  'ESM entry: ndis.X, Ndis (import bindings)': (n) => {
    let s = 0;
    for (let i = 0; i < n; i++) s += esm.ndis.NDIS_STATUS_PENDING + (esm.Ndis === undefined ? 1 : 0);
    return s;
  },
  'CJS barrel as plain properties (simulated copy)': (n) => {
    let s = 0;
    for (let i = 0; i < n; i++) s += plainBarrel.ndis.NDIS_STATUS_PENDING + (plainBarrel.Ndis === undefined ? 1 : 0);
    return s;
  },
  'destructured const: X, Ndis': (n) => {
    let s = 0;
    for (let i = 0; i < n; i++) s += NDIS_STATUS_PENDING + (Ndis === undefined ? 1 : 0);
    return s;
  },
};

let sink = 0;
for (const [name, fn] of Object.entries(variants)) {
  sink += fn(reads); // warm-up: optimized before timing
  const ns = [];
  for (let r = 0; r < reps; r++) {
    const t0 = process.hrtime.bigint();
    sink += fn(reads);
    ns.push(Number(process.hrtime.bigint() - t0) / reads / 2); // two reads per iteration
  }
  ns.sort((a, b) => a - b);
  console.log(`${name.padEnd(50)} ${ns[Math.floor(ns.length / 2)].toFixed(2)} ns/read (median of ${reps})`);
}
if (sink === 42) console.log('');
