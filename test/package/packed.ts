/**
 * Test helper for test/package/: the package as a consumer gets it. `npm pack` (its "prepack" runs
 * scripts/prebuild.sh: the linux-x64 and linux-arm64 prebuilds; "prepare" builds dist/), then
 * `npm i <tgz>` into a fresh temp project with a PATH that holds only node, npm and sh (npm runs
 * install scripts through sh): no cc, g++, make or python3, so a compile would fail.
 * Outside the layer picture: it plays a user of the package root.
 *
 * Packing takes a minute, so it is done once per vitest run: the test files run one at a time in
 * child processes of one vitest process, and the result is kept in a temp dir named after that
 * process (process.ppid); the next file reuses it. Dirs of vitest runs that are gone are removed.
 */
import { type ExecFileOptions, execFile, execFileSync, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

export const ROOT = path.resolve(__dirname, '../..');
const PREFIX = 'condis-tap-packed-';

export interface Packed {
  /** The temp dir of this vitest run: tarball, bin/, project/. */
  dir: string;
  tarball: string;
  /** The consumer's project; node_modules/condis-tap is the installed package. */
  project: string;
  installed: string;
  /** PATH holding only node, npm and sh. */
  path: string;
  /** The architectures prebuilt into the tarball (arm64 only with the cross toolchain). */
  archs: string[];
  /** npm pack's list of the tarball's files. */
  files: string[];
}

/** `npm pack --json`'s stdout, without anything a lifecycle script printed before the JSON. */
export function packJson(stdout: string): { filename: string; files: { path: string }[] }[] {
  const start = stdout.search(/^\[/m);
  if (start < 0) throw new Error(`npm pack --json printed no JSON:\n${stdout.slice(0, 2000)}`);
  return JSON.parse(stdout.slice(start));
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

function removeStale(): void {
  for (const name of fs.readdirSync(os.tmpdir())) {
    if (!name.startsWith(PREFIX)) continue;
    const pid = Number(name.slice(PREFIX.length));
    if (Number.isInteger(pid) && pid !== process.ppid && !alive(pid)) {
      fs.rmSync(path.join(os.tmpdir(), name), { recursive: true, force: true });
    }
  }
}

/** Whether the arm64 prebuild can be made here; under CI=true it must. */
export function crossToolchain(): boolean {
  const ok = !spawnSync('aarch64-linux-gnu-g++', ['--version'], { stdio: 'ignore' }).error;
  if (!ok && process.env.CI === 'true') {
    throw new Error('packed install: aarch64-linux-gnu-g++ missing (Debian crossbuild-essential-arm64)');
  }
  if (!ok) console.warn('[skip] packed install: no linux-arm64 prebuild (Debian crossbuild-essential-arm64)');
  return ok;
}

/**
 * A command's stdout, run without blocking this worker: vitest's worker answers its main process
 * over RPC with a fixed 60 s timeout, and a minute of execFileSync (prebuild, pack, install) in a
 * beforeAll made it report "Timeout calling onTaskUpdate" as an unhandled error (vitest #8164).
 */
export function run(cmd: string, args: string[], opts: ExecFileOptions = {}): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(cmd, args, { encoding: 'utf8', maxBuffer: 64 << 20, ...opts }, (err, stdout, stderr) => {
      if (err) reject(new Error(`${cmd} ${args.join(' ')}: ${err.message}\n${String(stderr).slice(-2000)}`));
      else resolve(String(stdout));
    });
  });
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Packs and installs once per vitest run (see the file comment). */
export async function packAndInstall(): Promise<Packed> {
  const dir = path.join(os.tmpdir(), `${PREFIX}${process.ppid}`);
  const done = path.join(dir, 'packed.json');
  // Two test files (in two vitest workers) may ask at once: the first to make the lock packs, the
  // other waits for its packed.json.
  const lock = `${dir}.lock`;
  for (;;) {
    if (fs.existsSync(done)) return JSON.parse(fs.readFileSync(done, 'utf8')) as Packed;
    try {
      fs.mkdirSync(lock);
      break;
    } catch {
      await sleep(200);
    }
  }
  try {
    return await packAndInstallLocked(dir, done);
  } finally {
    fs.rmSync(lock, { recursive: true, force: true });
  }
}

async function packAndInstallLocked(dir: string, done: string): Promise<Packed> {
  if (fs.existsSync(done)) return JSON.parse(fs.readFileSync(done, 'utf8')) as Packed;
  removeStale();
  fs.rmSync(dir, { recursive: true, force: true });
  fs.mkdirSync(dir, { recursive: true });

  const archs = crossToolchain() ? ['x64', 'arm64'] : ['x64'];
  // The prepack step (the prebuilds) by hand, then a pack that runs no script: npm pack would also
  // run "prepare", rewriting dist/ under the other test files that are running from it. npm ci has
  // built dist/ already.
  await run('bash', ['scripts/prebuild.sh'], {
    cwd: ROOT,
    env: { ...process.env, PREBUILD_ARCHS: archs.join(' ') },
  });
  const out = await run('npm', ['pack', '--json', '--ignore-scripts', '--pack-destination', dir], {
    cwd: ROOT,
  });
  const [info] = packJson(out);
  if (!info) throw new Error('npm pack --json: empty list');
  const tarball = path.join(dir, info.filename);

  const bin = path.join(dir, 'bin');
  fs.mkdirSync(bin);
  // Symlinks to the real files: npm-cli.js finds npm's own modules from its real path.
  for (const tool of ['node', 'npm', 'sh']) {
    const where = execFileSync('sh', ['-c', `command -v ${tool}`], { encoding: 'utf8' }).trim();
    fs.symlinkSync(fs.realpathSync(where), path.join(bin, tool));
  }
  const project = path.join(dir, 'project');
  fs.mkdirSync(project);
  fs.writeFileSync(
    path.join(project, 'package.json'),
    `${JSON.stringify({ name: 'consumer', version: '1.0.0', private: true }, null, 2)}\n`,
  );
  const env = { HOME: process.env.HOME ?? '/root', PATH: bin, CI: process.env.CI ?? '' };
  await run('npm', ['i', tarball, '--no-audit', '--no-fund', '--prefer-offline', '--foreground-scripts'], {
    cwd: project,
    env,
  });
  const packed: Packed = {
    dir,
    tarball,
    project,
    installed: path.join(project, 'node_modules', 'condis-tap'),
    path: bin,
    archs,
    files: info.files.map((f) => f.path),
  };
  fs.writeFileSync(done, JSON.stringify(packed));
  return packed;
}
