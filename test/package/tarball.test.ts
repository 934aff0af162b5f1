/**
 * Issue 11 point 5: what the npm tarball holds (`npm pack --dry-run --json --ignore-scripts`: the
 * list npm would pack from this tree, without building the prebuilds). Every relative link and
 * image of README.md resolves to a file in it (so the README reads and its images render from
 * the installed package), every source map names only sources it ships, and no node_modules,
 * build output or test is in it. Outside the layer picture: it checks the package's "files".
 */
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { packJson, ROOT } from './packed';

let files: Set<string>;

beforeAll(() => {
  const out = execFileSync('npm', ['pack', '--dry-run', '--json', '--ignore-scripts'], {
    cwd: ROOT,
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'pipe'],
    maxBuffer: 64 << 20,
  });
  files = new Set(packJson(out)[0]!.files.map((f) => f.path));
}, 120_000);

/** The relative targets of README.md's links and images: [..](x), ![..](x), <img src="x">. */
function readmeTargets(markdown: string): string[] {
  // Fenced code is not markdown: a `](` in a code sample is no link.
  const text = markdown.replace(/^```[\s\S]*?^```/gm, '').replace(/`[^`\n]*`/g, '');
  const targets = [
    ...[...text.matchAll(/\]\(\s*<?([^)\s>]+)>?(?:\s+"[^"]*")?\s*\)/g)].map((m) => m[1]!),
    ...[...text.matchAll(/^\s*\[[^\]]+\]:\s*<?(\S+?)>?(?:\s+"[^"]*")?\s*$/gm)].map((m) => m[1]!),
    ...[...text.matchAll(/<(?:img|a)\s[^>]*?(?:src|href)="([^"]+)"/g)].map((m) => m[1]!),
  ];
  return targets
    .filter((t) => !/^[a-z][a-z0-9+.-]*:/i.test(t) && !t.startsWith('#'))
    .map((t) => decodeURIComponent(t.replace(/[#?].*$/, '')));
}

describe('the tarball', () => {
  it('ships the package entries, the ESM entry and the README', () => {
    for (const f of [
      'package.json',
      'README.md',
      'bin/condis.js',
      'dist/lib/index.js',
      'dist/lib/index.d.ts',
      'dist/esm/index.mjs',
      'dist/esm/index.d.mts',
      'binding.gyp',
    ]) {
      expect(files, f).toContain(f);
    }
  });

  it('holds every file README.md links or shows, at the path it uses', () => {
    const targets = readmeTargets(fs.readFileSync(path.join(ROOT, 'README.md'), 'utf8'));
    expect(targets.length).toBeGreaterThan(0);
    const missing = targets.filter((t) => {
      const p = path.posix.normalize(t.replace(/^\.\//, ''));
      if (p.startsWith('../')) return true; // outside the package: cannot be shipped
      return !files.has(p) && ![...files].some((f) => f.startsWith(`${p.replace(/\/$/, '')}/`));
    });
    expect(missing).toEqual([]);
  });

  it('has source maps that name only sources it ships', () => {
    const maps = [...files].filter((f) => f.endsWith('.map'));
    expect(maps.length).toBeGreaterThan(0);
    const missing: string[] = [];
    for (const m of maps) {
      const map = JSON.parse(fs.readFileSync(path.join(ROOT, m), 'utf8')) as {
        sources: string[];
        sourceRoot?: string;
      };
      for (const s of map.sources) {
        const p = path.posix.normalize(path.posix.join(path.posix.dirname(m), map.sourceRoot ?? '', s));
        if (!files.has(p)) missing.push(`${m} -> ${p}`);
      }
    }
    expect(missing).toEqual([]);
  });

  it('holds no node_modules, build output, tests or local files', () => {
    const bad = [...files].filter(
      (f) =>
        /^(node_modules|build|build-[^/]*|test|coverage|bench-results|out|\.ci|\.github)\//.test(f) ||
        /(^|\/)(\.env|[^/]*\.log|[^/]*\.pcap|[^/]*\.tgz)$/.test(f) ||
        /\.test\.[cm]?[jt]s$/.test(f) ||
        f.startsWith('dist/test/') ||
        f.startsWith('dist/scripts/'),
    );
    expect(bad).toEqual([]);
  });
});
