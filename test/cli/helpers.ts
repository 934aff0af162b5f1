/**
 * Helpers for the CLI tests: run main() in-process with stdout/stderr captured, or spawn the real
 * `node bin/condis.js` over a dist/ built once per test file (bin loads dist, not the sources).
 */
import { execFileSync, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { main } from '../../lib/cli/main';

export const ROOT = path.resolve(__dirname, '../..');

export interface Ran {
  code: number;
  stdout: string;
  stderr: string;
}

/** main(argv) with process.stdout/stderr.write captured. */
export async function runMain(argv: string[]): Promise<Ran> {
  let stdout = '';
  let stderr = '';
  const ow = process.stdout.write.bind(process.stdout);
  const ew = process.stderr.write.bind(process.stderr);
  process.stdout.write = ((s: string | Uint8Array) => {
    stdout += String(s);
    return true;
  }) as typeof process.stdout.write;
  process.stderr.write = ((s: string | Uint8Array) => {
    stderr += String(s);
    return true;
  }) as typeof process.stderr.write;
  try {
    const code = await main(argv);
    return { code, stdout, stderr };
  } finally {
    process.stdout.write = ow;
    process.stderr.write = ew;
  }
}

/**
 * Builds dist/ (tsc -p tsconfig.build.json). tsc still emits when an unrelated file has a type
 * error, so success is judged by the files the CLI tests need, not by tsc's exit status.
 */
export function buildDist(): void {
  try {
    execFileSync('npx', ['tsc', '-p', 'tsconfig.build.json'], { cwd: ROOT, stdio: 'pipe' });
  } catch {
    // judged below
  }
  for (const f of ['main.js', 'bench-drain.js', 'trace.js']) {
    if (!fs.existsSync(path.join(ROOT, 'dist/lib/cli', f)))
      throw new Error(`dist/lib/cli/${f} was not built`);
  }
}

/** Spawns `node bin/condis.js ...args`. */
export function condis(args: string[], opts: { uid?: number; gid?: number } = {}): Ran {
  const r = spawnSync(process.execPath, [path.join(ROOT, 'bin/condis.js'), ...args], {
    cwd: ROOT,
    encoding: 'utf8',
    timeout: 120_000,
    ...opts,
  });
  return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}

/** tshark, or null (with the reason) when missing; under CI=true a missing tshark is an error. */
export function tshark(suite: string): string | null {
  const r = spawnSync('tshark', ['--version'], { encoding: 'utf8' });
  if (r.status === 0) return 'tshark';
  const why = 'tshark is not installed (apt-get install -y tshark)';
  if (process.env.CI === 'true') throw new Error(`${suite}: mandatory in CI: ${why}`);
  console.warn(`[skip] ${suite}: ${why}`);
  return null;
}

/** VIDs of a pcap's frames as tshark decodes them ('' for an untagged frame), counted. */
export function vidCounts(file: string): Map<string, number> {
  const out = execFileSync('tshark', ['-r', file, '-T', 'fields', '-e', 'vlan.id'], {
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'ignore'],
  });
  const m = new Map<string, number>();
  for (const line of out.split('\n').slice(0, -1)) m.set(line, (m.get(line) ?? 0) + 1);
  return m;
}
