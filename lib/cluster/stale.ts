/**
 * Clusters a killed run left behind. `condis demo` and `condis bench calls` each build a cluster
 * of their own named after their process (`cd<pid>`, `cb<pid>`) and remove it when they end, on
 * error and on SIGINT/SIGTERM; a SIGKILL (or a crash of the machine's OOM killer) gives them no
 * chance, and the namespaces and node processes stay. The next run removes them: a cluster whose
 * id is the prefix and the pid of a process that no longer runs can belong to nobody (a pid that
 * runs again, reused by something else, is left alone: never a namespace that may be live).
 *
 * Layer: host plumbing beside the stack (lib/cluster).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { teardown } from './down';
import { listNamespaces } from './netns';
import { alive } from './node-process';
import { DEFAULT_RUN_DIR } from './plan';
import { readState } from './state';

/**
 * The run directory of a run's own cluster `id` (`cd<pid>`, `cb<pid>`): /run/condis/<id>, apart
 * from the user's clusters (whose state files are /run/condis/cluster-<id>.json), and found again
 * from the id alone when the run was killed.
 */
export function ownRunDir(id: string): string {
  return path.join(DEFAULT_RUN_DIR, id);
}

/**
 * Removes every cluster `<prefix><pid>` whose pid is not running — its namespaces, the processes
 * in them, its run directory (ownRunDir) — and returns the ids removed. `prefix` is letters only,
 * so the pid is what follows it.
 */
export async function removeStaleClusters(prefix: string, stopTimeoutMs = 5000): Promise<string[]> {
  const pattern = new RegExp(`^(${prefix}(\\d+))(?:-(?:h\\d+|ul))?$`);
  const stale = new Set<string>();
  const consider = (name: string) => {
    const m = pattern.exec(name);
    if (m && Number(m[2]) !== process.pid && !alive(Number(m[2]))) stale.add(m[1]!);
  };
  for (const ns of listNamespaces()) if (ns.includes('-')) consider(ns);
  let dirs: string[] = [];
  try {
    dirs = fs.readdirSync(DEFAULT_RUN_DIR);
  } catch {
    // No /run/condis: no run directory left either.
  }
  for (const d of dirs) if (!d.includes('-')) consider(d);
  for (const id of stale) {
    const runDir = ownRunDir(id);
    await teardown(id, runDir, readState(runDir, id), stopTimeoutMs);
    fs.rmSync(runDir, { recursive: true, force: true });
  }
  return [...stale];
}
