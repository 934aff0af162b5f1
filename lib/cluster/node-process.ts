/**
 * The node processes of a cluster: one per host, started inside the host's namespace as
 * `ip netns exec <ns> <command...> node --tap NAME --mac MAC --ip A.B.C.D/24 --control PATH`
 * (the contract of `condis node`, issue 14 point 1), detached so that it outlives `condis cluster
 * up`, its stdout (the ready line, then JSON events) and stderr going to files in the cluster's
 * directory rather than to pipes that would break when `up` exits. Stopping is by pid, and only
 * a pid that still is the node (same network namespace, or the same --control on its command line):
 * a pid reused by an unrelated process after a reboot is never signalled.
 */
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { CondisError } from '../errors';
import type { HostState, NodeReady } from './state';

/**
 * The default node command: this package's own `condis`, run by this Node.js — lib/cli/entry
 * beside this file when the tree has it (it runs from the sources too, with tsx, as
 * lib/scenarios/cold-drain.ts starts its child), else bin/condis.js found upwards (which loads
 * dist/). CONDIS_CLUSTER_NODE or --node-command replace it (the tests' stand-in; a node
 * installed elsewhere).
 */
export function defaultNodeCommand(): string[] {
  const ext = path.extname(__filename);
  const entry = path.join(__dirname, '..', 'cli', `entry${ext}`);
  if (fs.existsSync(entry)) return [process.execPath, ...(ext === '.ts' ? ['--import', 'tsx'] : []), entry];
  let dir = __dirname;
  for (let i = 0; i < 5; i++) {
    const bin = path.join(dir, 'bin', 'condis.js');
    if (fs.existsSync(bin)) return [process.execPath, bin];
    dir = path.dirname(dir);
  }
  throw new CondisError('ERR_CONDIS_CLUSTER_FAILED', 'bin/condis.js not found above lib/cluster', {});
}

/** A command line given as one string (`python3 stand-in.py`): split on blanks, no shell. */
export function splitCommand(text: string): string[] {
  const words = text.split(/\s+/).filter((w) => w !== '');
  if (words.length === 0) throw new CondisError('ERR_CONDIS_INVALID_ARG', 'the node command is empty', {});
  return words;
}

/**
 * The arguments after the command, per the contract of `condis node`, then `extra`
 * (UpOptions.nodeExtraArgs: options beyond the contract, e.g. `--queue-pairs 64` for `condis
 * bench calls`, `--keepalive-ms` for the cross-host tests).
 */
export function nodeArgs(h: HostState, extra: readonly string[] = []): string[] {
  return ['node', '--tap', h.tap, '--mac', h.mac, '--ip', h.ip, '--control', h.control, ...extra];
}

/** Starts host h's node; returns its pid (`ip netns exec` execs the command: the node's own pid). */
export function startNode(
  h: HostState,
  command: string[],
  onExit: (code: number | null) => void,
  extra: readonly string[] = [],
): number {
  fs.mkdirSync(path.dirname(h.events), { recursive: true });
  const out = fs.openSync(h.events, 'w');
  const err = fs.openSync(h.log, 'w');
  try {
    const child = spawn('ip', ['netns', 'exec', h.namespace, ...command, ...nodeArgs(h, extra)], {
      detached: true,
      stdio: ['ignore', out, err],
    });
    if (child.pid === undefined) {
      throw new CondisError('ERR_CONDIS_CLUSTER_FAILED', `${h.name}: could not start ${command.join(' ')}`, {
        host: h.name,
      });
    }
    child.on('error', () => onExit(null));
    child.on('exit', (code) => onExit(code));
    child.unref();
    return child.pid;
  } finally {
    fs.closeSync(out);
    fs.closeSync(err);
  }
}

/** The first line of the events file as the ready line, null if not there yet; throws if wrong. */
export function readReady(h: HostState): NodeReady | null {
  let text: string;
  try {
    text = fs.readFileSync(h.events, 'utf8');
  } catch {
    return null;
  }
  const nl = text.indexOf('\n');
  if (nl < 0) return null;
  const line = text.slice(0, nl);
  const bad = (why: string) =>
    new CondisError(
      'ERR_CONDIS_CLUSTER_FAILED',
      `${h.name}: the node's first line is not its ready line (${why}): ${line}`,
      {
        host: h.name,
        line,
      },
    );
  let r: Partial<NodeReady>;
  try {
    r = JSON.parse(line) as Partial<NodeReady>;
  } catch {
    throw bad('not JSON');
  }
  if (r.event !== 'ready') throw bad('event is not "ready"');
  if (r.tap !== h.tap) throw bad(`tap is not ${h.tap}`);
  if (typeof r.mac !== 'string') throw bad('no mac');
  return {
    event: 'ready',
    tap: r.tap,
    mac: r.mac,
    sap: typeof r.sap === 'number' ? r.sap : null,
    ip: typeof r.ip === 'string' ? r.ip : null,
    control: typeof r.control === 'string' ? r.control : h.control,
    pid: typeof r.pid === 'number' ? r.pid : -1,
  };
}

/** The last lines of a node's stderr, for an error message. */
export function logTail(h: HostState, lines = 5): string {
  try {
    return fs.readFileSync(h.log, 'utf8').trim().split('\n').slice(-lines).join(' | ');
  } catch {
    return '';
  }
}

/** true while `pid` runs (a zombie has finished: it only waits to be reaped by its parent). */
export function alive(pid: number): boolean {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    // The state follows the command name in parentheses, which may itself hold blanks or ')'.
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
  } catch {
    return false;
  }
}

function netnsInode(file: string): number | null {
  try {
    return fs.statSync(file).ino;
  } catch {
    return null;
  }
}

/** true if `pid` is still host h's node: in h's namespace, or its command line names h's socket. */
export function isNodeOf(pid: number, h: HostState): boolean {
  if (!alive(pid)) return false;
  const mine = netnsInode(`/run/netns/${h.namespace}`);
  if (mine !== null && netnsInode(`/proc/${pid}/ns/net`) === mine) return true;
  try {
    return fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').includes(h.control);
  } catch {
    return false;
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * SIGTERM to every pid, then SIGKILL to those still running after `timeoutMs` (the node's own
 * shutdown closes its calls and drains its VCs; it gets that long). Resolves with the pids that
 * needed SIGKILL.
 */
export async function stopPids(pids: number[], timeoutMs: number): Promise<number[]> {
  const signal = (pid: number, sig: NodeJS.Signals) => {
    try {
      process.kill(pid, sig);
    } catch {
      // already gone
    }
  };
  const live = pids.filter(alive);
  for (const pid of live) signal(pid, 'SIGTERM');
  const until = Date.now() + timeoutMs;
  while (live.some(alive) && Date.now() < until) await sleep(50);
  const killed = live.filter(alive);
  for (const pid of killed) signal(pid, 'SIGKILL');
  // SIGKILL cannot be refused; wait for the kernel to finish the exit (it holds the namespace).
  const hard = Date.now() + 5000;
  while (killed.some(alive) && Date.now() < hard) await sleep(20);
  return killed;
}
