// `condis bench pps` on the real binary (node bin/condis.js over dist/): the wire run and its JSON
// (no privilege), bad flags, the missing-privilege error, how a failed build of the C reference is
// reported, and, with root (mandatory under CI=true), the TAP loop with the C reference and the
// ratios. The machine is shared: no assertion on the numbers beyond > 0.
import { spawn, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ensureCref, ppsFiles } from '../../lib/bench/pps';
import { ppsWarnings } from '../../lib/cli/bench-pps';
import { tapTestsEnabled } from '../helpers/privilege';
import { isRoot, stagePackage } from '../helpers/unprivileged';
import { waitUntil } from '../helpers/wait';
import { buildDist, condis, type Ran, ROOT } from './helpers';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'condis-pps-'));
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

beforeAll(() => {
  buildDist();
  if (!fs.existsSync(path.join(ROOT, 'dist/lib/cli/bench-pps.js'))) {
    throw new Error('dist/lib/cli/bench-pps.js was not built');
  }
}, 120_000);

const tap = tapTestsEnabled('condis bench pps --backend tap');

function oneLineError(r: Ran, pattern: RegExp): void {
  expect(r.code).not.toBe(0);
  const lines = r.stderr.trimEnd().split('\n');
  expect(lines).toHaveLength(1);
  expect(lines[0]).toMatch(pattern);
  expect(r.stderr).not.toMatch(/^\s+at /m);
}

/** The report's shape, exactly: these keys and no others. */
/** `condis bench pps --backend tap ARGS`, which must end well: exit 0, no stack trace. */
function tapRun(args: string[]): Ran {
  const r = condis(['bench', 'pps', '--backend', 'tap', ...args]);
  expect(r.stderr).not.toMatch(/^\s+at /m);
  expect(r.code).toBe(0);
  return r;
}

function checkShape(report: Record<string, unknown>, backend: string, size: number, paths: string[]): void {
  expect(Object.keys(report).sort()).toEqual([
    'backend',
    'bench',
    'cpus',
    'frameSize',
    'loadAvg',
    'ratios',
    'results',
    'warnings',
  ]);
  expect(report.cpus).toBeNull(); // these runs are unpinned
  expect((report.loadAvg as number[]).length).toBe(2);
  expect(Array.isArray(report.warnings)).toBe(true);
  expect(report.bench).toBe('pps');
  expect(report.backend).toBe(backend);
  expect(report.frameSize).toBe(size);
  const results = report.results as Record<string, unknown>[];
  expect(results.map((r) => r.path)).toEqual(paths);
  for (const r of results) {
    expect(Object.keys(r).sort()).toEqual(['lost', 'path', 'repsRxPps', 'rxPps', 'spread', 'txPps']);
    expect(r.txPps).toBeGreaterThan(0);
    expect(r.rxPps).toBeGreaterThan(0);
    expect(Number.isInteger(r.lost)).toBe(true);
    expect(r.lost).toBeGreaterThanOrEqual(0);
    // The reps the median came from: rxPps is their median (each rounded to a whole pps).
    const reps = [...(r.repsRxPps as number[])].sort((a, b) => a - b);
    expect(reps.length).toBeGreaterThan(0);
    const mid = reps.length >> 1;
    const median = reps.length % 2 ? reps[mid]! : (reps[mid - 1]! + reps[mid]!) / 2;
    expect(Math.abs(median - (r.rxPps as number))).toBeLessThanOrEqual(1);
  }
}

describe('condis bench pps', () => {
  it('--help prints the usage, the wire/ratios caveat and an example', () => {
    const r = condis(['bench', 'pps', '--help']);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^usage: condis bench pps \[--backend tap\|wire\]/);
    expect(r.stdout).toMatch(/ratios is \{\}/);
    expect(r.stdout).toMatch(/^example: .*condis bench pps --backend tap/m);
    expect(condis(['bench', '--help']).stdout).toMatch(/^ {2}pps /m);
  });

  it('--backend wire: condis alone, JSON with rxPps > 0, nothing lost and no ratios', () => {
    const json = path.join(dir, 'wire.json');
    const r = condis(['bench', 'pps', '--backend', 'wire', '--frames', '200000', '--json', json]);
    expect(r.stderr).not.toMatch(/^\s+at /m);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/path\s+tx pps\s+rx pps/);
    expect(r.stdout).toMatch(/^condis\s/m);
    expect(r.stdout).toMatch(/ratios: none/);
    const report = JSON.parse(fs.readFileSync(json, 'utf8'));
    checkShape(report, 'wire', 64, ['condis']);
    expect(report.results[0].lost).toBe(0);
    expect(report.ratios).toEqual({});
  }, 120_000);

  it.each([
    [['--bogus'], /bogus/],
    [['--backend', 'ether'], /--backend must be one of tap, wire/],
    [['--size', '10'], /--size must be from 60 to 1514/],
    [['--size', '1515'], /--size must be from 60 to 1514/],
    [['--frames', '0'], /--frames must be from 1/],
    [['--frames', '1e6'], /--frames must be a whole number/],
    [['--reps', 'x'], /--reps must be a whole number/],
    [['--json'], /json/],
    [['--json='], /--json needs a file name/],
    [['extra'], /extra/],
    [['--cpus', '1,2'], /--cpus must be JS,TX,RX \(three CPU numbers\)/],
    [['--cpus', '0,0,4096'], /--cpus: CPU 4096 does not exist here/],
    [['--backend', 'wire', '--cpus', '0,0,0'], /--cpus pins the TAP runs: use it with --backend tap/],
  ])('bad flags %j: one-line error, non-zero exit, no stack trace', (args, pattern) => {
    const r = condis(['bench', 'pps', ...(args as string[])]);
    oneLineError(r, pattern as RegExp);
    expect(r.stdout).toBe('');
  });

  it('--backend tap without privilege: one line naming CAP_NET_ADMIN and --backend wire, exit 1', () => {
    let r: Ran;
    if (!isRoot()) {
      r = condis(['bench', 'pps', '--backend', 'tap']);
    } else {
      // As root: run the package as nobody, from a copy nobody can read wherever the clone is.
      const stage = stagePackage();
      try {
        r = stage.run(['bin/condis.js', 'bench', 'pps', '--backend', 'tap']);
      } finally {
        stage.remove();
      }
    }
    oneLineError(r, /CAP_NET_ADMIN.*--backend wire/);
    expect(r.code).toBe(1);
  });

  it('a C reference that cannot be built names the missing apt package', () => {
    // A copy of cref.c and build.sh, so the real cref is never touched.
    const src = ppsFiles();
    const copy = path.join(dir, 'pps');
    fs.mkdirSync(copy);
    for (const f of ['cref.c', 'build.sh']) fs.copyFileSync(path.join(src.dir, f), path.join(copy, f));
    const files = ppsFiles(copy);
    const env = (cc: string) => ({ ...process.env, CC: cc });

    const noCc = ensureCref(files, () => {}, env(path.join(dir, 'no-such-cc')));
    expect(noCc?.aptPackage).toBe('gcc');
    expect(noCc?.message).toMatch(/apt-get install -y gcc/);
    expect(noCc?.message).not.toMatch(/\n/);

    // The real compiler over kernel headers from before io_uring's cancel-any and timed waits
    // (an empty linux/io_uring.h found first): cref.c's own #error, reported as the package.
    const old = path.join(dir, 'old-headers');
    fs.mkdirSync(path.join(old, 'linux'), { recursive: true });
    fs.writeFileSync(path.join(old, 'linux/io_uring.h'), '/* Linux 5.4 */\n');
    const ccOld = path.join(dir, 'cc-old-headers');
    fs.writeFileSync(ccOld, `#!/bin/sh\nexec cc -I'${old}' "$@"\n`, { mode: 0o755 });
    const oldHeaders = ensureCref(files, () => {}, env(ccOld));
    expect(oldHeaders?.aptPackage).toBe('linux-libc-dev');
    expect(oldHeaders?.message).toMatch(/apt-get install -y linux-libc-dev/);
    expect(fs.existsSync(files.cref)).toBe(false);

    // gcc and the kernel headers are all it needs: no liburing (the binary links libc only).
    expect(ensureCref(files, () => {}, env('cc'))).toBeNull();
    expect(fs.existsSync(files.cref)).toBe(true);
    const ldd = spawnSync('ldd', [files.cref], { encoding: 'utf8' });
    expect(ldd.status).toBe(0);
    expect(ldd.stdout).toMatch(/libc\.so/);
    expect(ldd.stdout).not.toMatch(/liburing/);
  }, 60_000);

  it.each([
    ['SIGINT', 130],
    ['SIGTERM', 143],
  ] as const)(
    '%s stops a run: it cleans up and exits %i',
    async (sig, code) => {
      const child = spawn(
        process.execPath,
        [path.join(ROOT, 'bin/condis.js'), 'bench', 'pps', '--backend', 'wire', '--frames', '1000000000'],
        { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] },
      );
      let stderr = '';
      child.stderr.setEncoding('utf8');
      child.stderr.on('data', (d: string) => (stderr += d));
      const exited = new Promise<number | null>((resolve) => child.on('exit', (c) => resolve(c)));
      // Once it runs (a device's I/O thread exists: the handlers are in place by then), the signal.
      const deviceThread = () => {
        try {
          return fs
            .readdirSync(`/proc/${child.pid}/task`)
            .some((t) => fs.readFileSync(`/proc/${child.pid}/task/${t}/comm`, 'utf8').startsWith('condis'));
        } catch {
          return false;
        }
      };
      await waitUntil(deviceThread, 'the benchmark to open its devices', 30_000);
      child.kill(sig);
      expect(await exited).toBe(code);
      expect(stderr).toBe(`condis bench pps: ${sig}: stopping and cleaning up\n`);
    },
    60_000,
  );

  it('npm run bench:pps -- --help still works (the compiled script over the same engine)', () => {
    // npm run bench:pps compiles first and runs dist/ (measured code is what users run, not tsx's);
    // npm ci's prepare step has built dist/scripts already.
    const r = spawnSync(process.execPath, [path.join(ROOT, 'dist/scripts/bench/pps/run.js'), '--help'], {
      cwd: ROOT,
      encoding: 'utf8',
      timeout: 60_000,
    });
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(/^usage: npm run bench:pps -- \[flags\]/);
    expect(r.stdout).toMatch(/--wire-frames N/);
  }, 60_000);

  it.runIf(tap)(
    '--backend tap: condis, c-per-frame and c-io_uring in one run, with the ratios; the loop is removed',
    () => {
      const json = path.join(dir, 'tap.json');
      const r = tapRun(['--frames', '100000', '--size', '64', '--reps', '1', '--json', json]);
      expect(r.stdout).toMatch(/vs c-per-frame\s+vs c-io_uring/);
      expect(r.stdout).toMatch(/ratios \(condis rx pps \/ C rx pps\): condis\/c-per-frame \d/);
      const report = JSON.parse(fs.readFileSync(json, 'utf8'));
      checkShape(report, 'tap', 64, ['condis', 'c-per-frame', 'c-io_uring']);
      expect(Object.keys(report.ratios).sort()).toEqual(['condis/c-io_uring', 'condis/c-per-frame']);
      for (const v of Object.values(report.ratios)) expect(v).toBeGreaterThan(0);
      // The TAP loop (named after the child's pid) is gone.
      const names = /\((ctpA\d+) -> tc mirred -> (ctpB\d+)\)/.exec(r.stdout);
      expect(names).not.toBeNull();
      for (const n of names!.slice(1)) expect(fs.existsSync(`/sys/class/net/${n}`)).toBe(false);
    },
    180_000,
  );

  it.runIf(tap)(
    '--cpus pins the TAP runs (ours and cref), the report says so, and each path has its spread',
    () => {
      const json = path.join(dir, 'tap-pinned.json');
      const r = tapRun(['--frames', '30000', '--reps', '2', '--cpus', '0,0,0', '--json', json]);
      expect(r.stdout).toMatch(/pinned: JS on CPU 0, sender on 0, receiver on 0/);
      expect(r.stderr).not.toMatch(/cannot pin/); // cref's writer and reader took the pin too
      const report = JSON.parse(fs.readFileSync(json, 'utf8'));
      expect(report.cpus).toEqual({ js: 0, tx: 0, rx: 0 });
      for (const p of report.results) expect(typeof p.spread).toBe('number');
    },
    180_000,
  );
});

describe('pps warnings', () => {
  it('a path whose reps spread over 20%, and a load above the core count, each get a warning', () => {
    expect(ppsWarnings([{ path: 'condis', spread: 0.2 }], 5, 2, [1.9, 2])).toEqual([]);
    const w = ppsWarnings(
      [
        { path: 'condis', spread: 0.21 },
        { path: 'c-io_uring', spread: null },
      ],
      5,
      2,
      [1.2, 2.5],
    );
    expect(w).toEqual([
      'condis: its 5 reps spread 21% (over 20%): run more reps on a quieter machine before quoting it',
      'load average 2.5 above the 2 cores: other work took CPU time from the run',
    ]);
  });
});
