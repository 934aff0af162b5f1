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
import { teardown } from './down';
import { listNamespaces } from './netns';
import { alive } from './node-process';
import { DEFAULT_RUN_DIR } from './plan';

/**
 * Removes every cluster `<prefix><pid>` whose pid is not running (its namespaces, the processes
 * in them); returns the ids removed. `prefix` is letters only, so the pid is what follows it.
 */
export async function removeStaleClusters(prefix: string, stopTimeoutMs = 5000): Promise<string[]> {
  const id = new RegExp(`^(${prefix}(\\d+))-(?:h\\d+|ul)$`);
  const stale = new Set<string>();
  for (const ns of listNamespaces()) {
    const m = id.exec(ns);
    if (m && Number(m[2]) !== process.pid && !alive(Number(m[2]))) stale.add(m[1]!);
  }
  for (const s of stale) await teardown(s, DEFAULT_RUN_DIR, null, stopTimeoutMs);
  return [...stale];
}
