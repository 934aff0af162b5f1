/**
 * `condis cluster down`: stops the nodes (SIGTERM, SIGKILL after a timeout) and every other
 * process left in the cluster's namespaces, deletes the interfaces and the namespaces, and removes
 * the state file and the cluster's directory. Idempotent: a second run, or a run after `up` was
 * killed before it wrote anything, finds the namespaces by the cluster's names (plan.ts) and
 * removes what is left. Deleting a namespace frees its interfaces only once no process is inside,
 * so processes go first; the links are deleted by name as well, so nothing outlives a process we
 * could not stop.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { shQuiet } from '../host/namespace';
import { listNamespaces, nsPids, nsRunQuiet } from './netns';
import { alive, isNodeOf, stopPids } from './node-process';
import { DEFAULT_ID, DEFAULT_RUN_DIR, ownsNamespace } from './plan';
import { type ClusterState, readState } from './state';

/** Which cluster clusterDown removes, and how long its nodes get to stop. */
export interface DownOptions {
  /** The cluster's id (default `condis`, as clusterUp's). */
  id?: string;
  /** Where its state file is (default /run/condis, as clusterUp's). */
  runDir?: string;
  /** SIGTERM to SIGKILL, ms (default 5000). */
  stopTimeoutMs?: number;
}

/**
 * Removes a cluster clusterUp made (`condis cluster down`): its nodes stopped (each closes its
 * calls and drains), its namespaces with their interfaces, its state file. Idempotent: nothing
 * to remove is `found: false`, not an error.
 */
export function clusterDown(opts: DownOptions = {}): Promise<DownReport> {
  const id = opts.id ?? DEFAULT_ID;
  const runDir = opts.runDir ?? DEFAULT_RUN_DIR;
  return teardown(id, runDir, readState(runDir, id), opts.stopTimeoutMs ?? 5000);
}

/** What clusterDown / `condis cluster down` removed. */
export interface DownReport {
  id: string;
  /** false when there was nothing to remove. */
  found: boolean;
  /** Pids signalled (nodes and any other process inside the namespaces). */
  stopped: number[];
  /** Of those, the ones that needed SIGKILL. */
  killed: number[];
  namespaces: string[];
  /** Anything still there afterwards (empty when down succeeded). */
  left: string[];
}

/**
 * Removes cluster `id` (described by `state` when known, else found by its names). Used by
 * `down` and by `up` when it fails: with a state, only the namespaces that state says it created
 * are deleted, so a failed `up` never deletes a namespace it found already there.
 */
export async function teardown(
  id: string,
  runDir: string,
  state: ClusterState | null,
  stopTimeoutMs: number,
): Promise<DownReport> {
  const existing = new Set(listNamespaces());
  const namespaces = (state ? state.namespaces : [...existing].filter((ns) => ownsNamespace(id, ns))).filter(
    (ns) => existing.has(ns),
  );
  const pids = new Set<number>();
  for (const h of state?.hosts ?? []) if (h.pid !== null && isNodeOf(h.pid, h)) pids.add(h.pid);
  for (const ns of namespaces) for (const pid of nsPids(ns)) pids.add(pid);
  pids.delete(process.pid);
  const stopped = [...pids];
  const killed = await stopPids(stopped, stopTimeoutMs);

  for (const h of state?.hosts ?? []) {
    if (!namespaces.includes(h.namespace)) continue;
    for (const ifname of [h.tap, h.vxlan, h.bridge, h.underlayIf])
      nsRunQuiet(h.namespace, 'ip', ['link', 'del', ifname]);
  }
  for (const ns of namespaces) shQuiet('ip', ['netns', 'del', ns]);

  const dir = state?.clusterDir ?? path.join(runDir, `cluster-${id}`);
  const file = state?.stateFile ?? path.join(runDir, `cluster-${id}.json`);
  fs.rmSync(dir, { recursive: true, force: true });
  fs.rmSync(file, { force: true });

  const after = new Set(listNamespaces());
  const left = [
    ...namespaces.filter((ns) => after.has(ns)).map((ns) => `namespace ${ns}`),
    ...stopped.filter(alive).map((pid) => `process ${pid}`),
    ...(fs.existsSync(file) ? [file] : []),
  ];
  return {
    id,
    found: state !== null || namespaces.length > 0,
    stopped,
    killed,
    namespaces,
    left,
  };
}
