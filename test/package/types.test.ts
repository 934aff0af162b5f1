/**
 * Issue 11 point 2: a TypeScript user compiles against the PACKED install (test/package/packed.ts)
 * with no settings beyond module, moduleResolution, strict, target and lib — on node16, nodenext
 * and bundler resolution, an ES module and (node16/nodenext) a CommonJS one, with TypeScript 5.x
 * (this repo's) and 7.x (installed beside the project: its bin is also named `tsc`, so it cannot
 * be a devDependency of this repo without taking over node_modules/.bin/tsc).
 * `lib` names esnext.disposable only for the user's `await using`; the package's types need none.
 * No `types` either: TypeScript 6+ loads no @types package unless named, so dist/lib/index.d.ts
 * references node itself (scripts/build-esm.mjs).
 * The project has @types/node, as any user of a Node package whose types name node:events does.
 * Plays a user of the package root.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { type Packed, packAndInstall, ROOT, run } from './packed';

const TS7 = '7.0.2';
let packed: Packed;
let tsc: Record<'5' | '7', string>;

// What the user writes: a wire pair, an Ndis runtime, a VcChannel and a miniport's types,
// `await using`, names from the package root only.
const USER = `import { Ndis, VcChannel, openWirePair, MiniportAdapter, ndis, type Device } from 'condis-tap';

const SUCCESS: number = ndis.NDIS_STATUS_SUCCESS;

export async function main(): Promise<number> {
  const [a, b]: [Device, Device] = openWirePair();
  await using _pair = { [Symbol.asyncDispose]: () => Promise.all([a.close(), b.close()]).then(() => undefined) };
  const runtime: Ndis = new Ndis();
  const adapterClass: typeof MiniportAdapter = MiniportAdapter;
  const open: typeof VcChannel.open = VcChannel.open;
  void runtime;
  void adapterClass;
  void open;
  return SUCCESS;
}
`;

const CASES = [
  { resolution: 'node16', module: 'node16', files: ['user.mts', 'user.cts'] },
  { resolution: 'nodenext', module: 'nodenext', files: ['user.mts', 'user.cts'] },
  { resolution: 'bundler', module: 'esnext', files: ['user.ts'] },
] as const;

beforeAll(async () => {
  packed = await packAndInstall();
  const env = { HOME: process.env.HOME ?? '/root', PATH: packed.path };
  const typesNode = JSON.parse(
    fs.readFileSync(path.join(ROOT, 'node_modules/@types/node/package.json'), 'utf8'),
  );
  const ts7 = path.join(packed.dir, 'ts7');
  if (!fs.existsSync(path.join(packed.project, 'node_modules/@types/node'))) {
    await run(
      'npm',
      ['i', '-D', `@types/node@${typesNode.version}`, '--no-audit', '--no-fund', '--prefer-offline'],
      {
        cwd: packed.project,
        env,
      },
    );
  }
  if (!fs.existsSync(path.join(ts7, 'node_modules/typescript'))) {
    fs.mkdirSync(ts7, { recursive: true });
    fs.writeFileSync(path.join(ts7, 'package.json'), '{"private":true}\n');
    await run('npm', ['i', `typescript@${TS7}`, '--no-audit', '--no-fund', '--prefer-offline'], {
      cwd: ts7,
      env,
    });
  }
  tsc = {
    '5': path.join(ROOT, 'node_modules/typescript/bin/tsc'),
    '7': path.join(ts7, 'node_modules/typescript/bin/tsc'),
  };
}, 900_000);

describe.each(['5', '7'] as const)('TypeScript %s.x', (major) => {
  it('is the version meant', () => {
    const out = execFileSync('node', [tsc[major], '--version'], { encoding: 'utf8' });
    expect(out).toMatch(new RegExp(`^Version ${major}\\.`));
  });

  for (const c of CASES) {
    it(`compiles a user file with moduleResolution ${c.resolution} (${c.files.join(', ')})`, () => {
      const dir = path.join(packed.project, `ts${major}-${c.resolution}`);
      fs.rmSync(dir, { recursive: true, force: true });
      fs.mkdirSync(dir);
      for (const f of c.files) fs.writeFileSync(path.join(dir, f), USER);
      const tsconfig = {
        compilerOptions: {
          module: c.module,
          moduleResolution: c.resolution,
          target: 'es2022',
          lib: ['es2022', 'esnext.disposable'],
          strict: true,
        },
        include: c.files,
      };
      fs.writeFileSync(path.join(dir, 'tsconfig.json'), `${JSON.stringify(tsconfig, null, 2)}\n`);
      const r = spawnSync('node', [tsc[major], '-p', dir, '--noEmit', '--traceResolution'], {
        cwd: dir,
        encoding: 'utf8',
        timeout: 120_000,
      });
      const errors = r.stdout.split('\n').filter((l) => /error TS\d+/.test(l));
      expect(errors).toEqual([]);
      expect(r.status).toBe(0);
      // Each file found the package's own types, by the condition its format selects.
      if (major === '5') {
        const resolved = [
          ...r.stdout.matchAll(/Module name 'condis-tap' was successfully resolved to '([^']+)'/g),
        ].map((m) => path.relative(packed.installed, m[1]!));
        const want = c.files.map((f) =>
          f.endsWith('.cts') ? 'dist/lib/index.d.ts' : 'dist/esm/index.d.mts',
        );
        expect(resolved.sort()).toEqual([...new Set(want)].sort());
      }
    });
  }
});
