/**
 * The forwarders of `condis bench tcp`, each a child process that opens two TAPs by name, says
 * "ready" on stdout, forwards until SIGTERM and then prints one JSON line of counters:
 *
 *   c-forwarder[-offload]   scripts/bench/tcp/cfwd.c ([-o]), compiled here with cc -O2 into a
 *                           temporary directory (never into the tree)
 *   condis-port[-offload]   lib/scenarios/tcp-forward-child.ts port (FramePort, sendWithHeader)
 *   condis-ndis[-offload]   lib/scenarios/tcp-forward-child.ts ndis (the NDIS reference bridge,
 *                           lib/scenarios/ndis-bridge-forwarder.ts, when the tree has it)
 */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { packageRoot } from '../pps/files';

export type ForwarderKind = 'c' | 'port' | 'ndis';

/** The scenarios folder next to this one (lib/scenarios from the sources, dist/lib/scenarios built). */
const SCENARIOS = path.resolve(__dirname, '../../scenarios');
const EXT = path.extname(__filename);
const CHILD = path.join(SCENARIOS, `tcp-forward-child${EXT}`);
/** From the TypeScript sources (the tests) the child needs tsx, as cold-drain.ts explains. */
const LOADER = EXT === '.ts' ? ['--import', 'tsx'] : [];

/** Why the NDIS path cannot run in this tree (its forwarder module is not here), or null. */
export function ndisForwarderMissing(): string | null {
  const base = path.join(SCENARIOS, 'ndis-bridge-forwarder');
  if (fs.existsSync(`${base}.ts`) || fs.existsSync(`${base}.js`)) return null;
  return `lib/scenarios/ndis-bridge-forwarder is not in this tree (${path.relative(packageRoot(), base)}.{ts,js})`;
}

/** Compiles cfwd.c into a fresh temporary directory; returns the binary's path. Throws with cc's error. */
export function buildCfwd(): { bin: string; dir: string } {
  const src = path.join(packageRoot(), 'scripts', 'bench', 'tcp', 'cfwd.c');
  if (!fs.existsSync(src)) throw new Error(`the C forwarder's source is missing: ${src}`);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'condis-cfwd-'));
  const bin = path.join(dir, 'cfwd');
  try {
    execFileSync(process.env.CC ?? 'cc', ['-O2', '-Wall', '-o', bin, src], {
      stdio: ['ignore', 'ignore', 'pipe'],
    });
  } catch (e) {
    fs.rmSync(dir, { recursive: true, force: true });
    const err = String((e as { stderr?: Buffer }).stderr ?? (e as Error).message).trim();
    throw new Error(`cannot build the C forwarder (cc -O2 cfwd.c; apt-get install -y gcc): ${err}`);
  }
  return { bin, dir };
}

/** A forwarder process that is up: both TAPs open. */
export class ForwarderProcess {
  private out = '';
  private err = '';
  private readonly exited: Promise<void>;

  private constructor(readonly child: ChildProcess) {
    child.stdout?.on('data', (d) => {
      this.out += d;
    });
    child.stderr?.on('data', (d) => {
      this.err += d;
    });
    this.exited = new Promise((resolve) => child.once('close', () => resolve()));
  }

  /** Spawns the forwarder and waits for its "ready" (rejects with its stderr if it dies first). */
  static async start(
    kind: ForwarderKind,
    tapA: string,
    tapB: string,
    offload: boolean,
    cfwd: string | null,
    track: (c: ChildProcess) => void,
  ): Promise<ForwarderProcess> {
    let child: ChildProcess;
    if (kind === 'c') {
      if (!cfwd) throw new Error('the C forwarder was not built');
      child = spawn(cfwd, [...(offload ? ['-o'] : []), tapA, tapB], { stdio: ['pipe', 'pipe', 'pipe'] });
    } else {
      child = spawn(process.execPath, [...LOADER, CHILD, kind, tapA, tapB, offload ? '1' : '0'], {
        stdio: ['pipe', 'pipe', 'pipe'],
      });
    }
    track(child);
    const f = new ForwarderProcess(child);
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`${kind} forwarder: no "ready" within 20 s`)), 20_000);
      const check = () => {
        if (f.out.includes('ready\n')) {
          clearTimeout(timer);
          child.stdout?.off('data', check);
          resolve();
        }
      };
      child.stdout?.on('data', check);
      child.once('close', (code, sig) => {
        clearTimeout(timer);
        reject(
          new Error(
            `${kind} forwarder exited (${sig ?? code}) before it was ready: ${f.err.trim().split('\n').pop() ?? ''}`,
          ),
        );
      });
    });
    return f;
  }

  /** SIGTERM, then SIGKILL after 3 s; resolves with its counters (null if it printed none). */
  async stop(): Promise<Record<string, unknown> | null> {
    const c = this.child;
    if (c.exitCode === null && c.signalCode === null) {
      c.kill('SIGTERM');
      const t = setTimeout(() => c.kill('SIGKILL'), 3000);
      await this.exited;
      clearTimeout(t);
    }
    const last = this.out.trim().split('\n').pop() ?? '';
    try {
      return last.startsWith('{') ? (JSON.parse(last) as Record<string, unknown>) : null;
    } catch {
      return null;
    }
  }
}
