/**
 * Running the real package as an unprivileged user (nobody, uid 65534) from a test that runs as
 * root. The clone may be anywhere, including inside a 0700 `mktemp -d` folder nobody cannot even
 * enter, so nobody never runs it in place: stagePackage() copies what the package ships (package.json
 * "files", its runtime dependencies and the built addon) into a world-readable folder of its own,
 * made under the temp dir and removed by remove(). The copy is what `npm install condis-tap` would
 * put on disk, so it also proves the package runs without the source tree.
 */
import { type SpawnSyncOptions, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

export const ROOT = path.resolve(__dirname, '../..');

/** The user the unprivileged checks run as. */
export const NOBODY = { uid: 65534, gid: 65534 } as const;

export function isRoot(): boolean {
  return typeof process.getuid === 'function' && process.getuid() === 0;
}

export interface StagedPackage {
  /** The staged package root (holds bin/, dist/, build/Release/condis.node, package.json...). */
  root: string;
  /** A node binary nobody may execute: process.execPath, or a copy of it inside the stage. */
  node: string;
  /** Runs `node <args>` as nobody with the stage as its working directory. */
  run(args: string[], opts?: SpawnSyncOptions): { code: number; stdout: string; stderr: string };
  /** Removes the stage. */
  remove(): void;
}

/** true if every folder above `file` is searchable and `file` itself has `bits` for others. */
function othersMay(file: string, bits: number): boolean {
  for (const p of new Set([path.resolve(file), fs.realpathSync(file)])) {
    if ((fs.statSync(p).mode & bits) !== bits) return false;
    for (let d = path.dirname(p); ; d = path.dirname(d)) {
      if ((fs.statSync(d).mode & 0o001) === 0) return false;
      if (d === path.dirname(d)) break;
    }
  }
  return true;
}

/** Source files of lib/ newer than what dist/ holds for them (dist/ would run stale code). */
function staleDist(): string[] {
  const stale: string[] = [];
  const walk = (dir: string): void => {
    for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
      const p = path.join(dir, e.name);
      if (e.isDirectory()) walk(p);
      else if (e.name.endsWith('.ts') && !e.name.endsWith('.d.ts')) {
        const out = path.join(ROOT, 'dist', path.relative(ROOT, p)).replace(/\.ts$/, '.js');
        if (!fs.existsSync(out) || fs.statSync(out).mtimeMs < fs.statSync(p).mtimeMs) stale.push(p);
      }
    }
  };
  walk(path.join(ROOT, 'lib'));
  return stale;
}

/** Copies `rel` (a file or a folder) from the clone into the stage, if it exists. */
function copyIn(stage: string, rel: string): void {
  const from = path.join(ROOT, rel);
  if (!fs.existsSync(from)) return;
  fs.cpSync(from, path.join(stage, rel), { recursive: true, dereference: true });
}

/** Folders 0755, files 0644 (0755 if their owner may execute them), whatever the clone's umask. */
function openUp(p: string): void {
  const st = fs.statSync(p);
  if (st.isDirectory()) {
    fs.chmodSync(p, 0o755);
    for (const e of fs.readdirSync(p)) openUp(path.join(p, e));
  } else {
    fs.chmodSync(p, st.mode & 0o100 ? 0o755 : 0o644);
  }
}

/**
 * Stages the built package where nobody can read it. Needs dist/ built from the current sources
 * (npm ci does it; so do the CLI tests) and build/Release/condis.node; throws, naming the command
 * to run, when either is missing or stale, so a check never runs old code.
 */
export function stagePackage(): StagedPackage {
  const addon = path.join(ROOT, 'build/Release/condis.node');
  if (!fs.existsSync(addon) && !fs.existsSync(path.join(ROOT, 'prebuilds'))) {
    throw new Error('stagePackage: the addon is not built (run npm run build:native)');
  }
  const stale = staleDist();
  if (stale.length > 0) {
    throw new Error(
      `stagePackage: dist/ is older than ${path.relative(ROOT, stale[0]!)}${stale.length > 1 ? ` and ${stale.length - 1} more` : ''} (run npx tsc -p tsconfig.build.json)`,
    );
  }
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'condis-nobody-'));
  try {
    const pkg = JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as {
      files: string[];
      dependencies?: Record<string, string>;
    };
    fs.copyFileSync(path.join(ROOT, 'package.json'), path.join(root, 'package.json'));
    for (const entry of pkg.files) {
      const rel = entry.replace(/\/$/, '');
      if (!rel.includes('*')) {
        copyIn(root, rel);
        continue;
      }
      // "dir/*.ext": the matching files of one folder.
      const dir = path.dirname(rel);
      const re = new RegExp(`^${path.basename(rel).replace(/\./g, '\\.').replace(/\*/g, '.*')}$`);
      if (!fs.existsSync(path.join(ROOT, dir))) continue;
      for (const f of fs.readdirSync(path.join(ROOT, dir))) if (re.test(f)) copyIn(root, path.join(dir, f));
    }
    copyIn(root, 'build/Release/condis.node');
    for (const dep of Object.keys(pkg.dependencies ?? {})) copyIn(root, path.join('node_modules', dep));
    // cref is built on demand into the package; never ship the clone's build of it.
    fs.rmSync(path.join(root, 'scripts/bench/pps/cref'), { force: true });

    let node = process.execPath;
    if (!othersMay(node, 0o001)) {
      // e.g. node under /root/.nvm: nobody gets a copy of the same binary.
      node = path.join(root, 'node');
      fs.copyFileSync(process.execPath, node);
    }
    openUp(root);
    // The temp dir itself must be reachable (TMPDIR inside a private folder would not be).
    if (!othersMay(path.join(root, 'package.json'), 0o004)) {
      throw new Error(
        `stagePackage: ${root} is not reachable by other users (set TMPDIR to a public folder)`,
      );
    }
    return {
      root,
      node,
      run(args, opts = {}) {
        const r = spawnSync(node, args, {
          cwd: root,
          encoding: 'utf8',
          timeout: 120_000,
          ...opts,
          ...NOBODY,
        });
        return { code: r.status ?? -1, stdout: String(r.stdout), stderr: String(r.stderr) };
      },
      remove() {
        fs.rmSync(root, { recursive: true, force: true });
      },
    };
  } catch (e) {
    fs.rmSync(root, { recursive: true, force: true });
    throw e;
  }
}
