/**
 * Issue 11 point 4: the npm tarball carries prebuilt addons for linux-x64 and linux-arm64, checked
 * (scripts/check-prebuilds.sh: machine, stripped, glibc no newer than the build host's), and an
 * install from it on x64 compiles nothing: the temp project's PATH has no compiler, make or
 * python3, the package works through require, import and its `condis` bin, and no build/ appears.
 * Plays a user of the package root (test/package/packed.ts packs and installs once per run).
 */
import { execFileSync, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { type Packed, packAndInstall, ROOT } from './packed';

let packed: Packed;

beforeAll(async () => {
  packed = await packAndInstall();
}, 600_000);

function run(args: string[], input?: string): string {
  return execFileSync('node', args, {
    cwd: packed.project,
    env: { HOME: process.env.HOME ?? '/root', PATH: packed.path },
    encoding: 'utf8',
    input,
    timeout: 60_000,
  });
}

describe('the packed package', () => {
  it('has a prebuilt addon per architecture, each passing scripts/check-prebuilds.sh', () => {
    for (const arch of packed.archs) {
      expect(packed.files).toContain(`prebuilds/linux-${arch}/condis-tap.node`);
    }
    const r = spawnSync(
      'bash',
      [path.join(ROOT, 'scripts/check-prebuilds.sh'), path.join(packed.installed, 'prebuilds')],
      {
        encoding: 'utf8',
      },
    );
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    expect(r.stdout).toContain(`OK (${packed.archs.length})`);
  });

  it('was installed with no compiler on PATH', () => {
    for (const tool of ['cc', 'gcc', 'g++', 'make', 'python3']) {
      const r = spawnSync('sh', ['-c', `command -v ${tool}`], { env: { PATH: packed.path } });
      expect(r.status, `${tool} must not be on the install's PATH`).not.toBe(0);
    }
  });

  it('loads the prebuilt addon through require and runs it (a wire pair opened and closed)', () => {
    const out = run([
      '-e',
      `const c = require('condis-tap');
       const [a, b] = c.openWirePair();
       Promise.all([a.close(), b.close()]).then(() => {
         console.log(require.resolve('condis-tap'));
         console.log(require('node-gyp-build').path(require('path').dirname(require.resolve('condis-tap/package.json'))));
       });`,
    ]);
    const [entry, addon] = out.trim().split('\n');
    expect(entry).toBe(path.join(packed.installed, 'dist/lib/index.js'));
    expect(addon).toBe(path.join(packed.installed, 'prebuilds/linux-x64/condis-tap.node'));
  });

  it('imports as ESM (the "import" condition: dist/esm/index.mjs) and shares the CommonJS instance', () => {
    const out = run(
      ['--input-type=module', '-'],
      `import { Ndis, ndis, openWirePair } from 'condis-tap';
       import { createRequire } from 'node:module';
       const cjs = createRequire(import.meta.url)('condis-tap');
       const [a, b] = openWirePair();
       await Promise.all([a.close(), b.close()]);
       console.log(import.meta.resolve('condis-tap'));
       console.log(Ndis === cjs.Ndis, ndis.NDIS_STATUS_SUCCESS === cjs.ndis.NDIS_STATUS_SUCCESS, typeof Ndis);`,
    );
    const [url, same] = out.trim().split('\n');
    expect(url).toBe(`file://${path.join(packed.installed, 'dist/esm/index.mjs')}`);
    expect(same).toBe('true true function');
  });

  it('runs its bin: condis --version', () => {
    const r = spawnSync(path.join(packed.project, 'node_modules/.bin/condis'), ['--version'], {
      cwd: packed.project,
      env: { HOME: process.env.HOME ?? '/root', PATH: packed.path },
      encoding: 'utf8',
      timeout: 60_000,
    });
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    const version = JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8')).version;
    expect(r.stdout.trim()).toContain(version);
  });

  it('compiled nothing: no build/ in the installed package', () => {
    expect(fs.existsSync(path.join(packed.installed, 'build'))).toBe(false);
  });
});
