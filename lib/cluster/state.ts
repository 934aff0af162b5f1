/**
 * The state file of a cluster (runDir/cluster-<id>.json): what `condis cluster up` made, written
 * after every step (status "building", then "up") so that `down` finds everything even when `up`
 * was killed half-way, and `status`/`link` and the tests find the nodes' pids, control sockets
 * and MACs. Written to a temporary file and renamed: a reader never sees half a file.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { CondisError } from '../errors';
import type { ClusterPlan, HostPlan } from './plan';

/** What a node said in its ready line (the contract of `condis node`). */
export interface NodeReady {
  event: 'ready';
  tap: string;
  mac: string;
  sap: number | null;
  ip: string | null;
  control: string;
  pid: number;
}

/** One host of a cluster: its plan (names, addresses, MACs), its node's pid and ready line. */
export interface HostState extends HostPlan {
  /** The node's pid (the `ip netns exec` process execs the node: the same pid), once spawned. */
  pid: number | null;
  /** Its ready line, once it printed it. */
  ready: NodeReady | null;
  /** true once the TAP is a port of the host's bridge. */
  tapEnslaved: boolean;
}

/**
 * A cluster as clusterUp built it (also its state file, `<runDir>/cluster-<id>.json`): its
 * hosts with each node's control socket and MAC, the namespaces it made.
 */
export interface ClusterState extends Omit<ClusterPlan, 'hosts'> {
  version: 1;
  status: 'building' | 'up';
  createdAt: string;
  dstport: number;
  overlayMtu: number;
  /** The command the nodes were started with (before `node --tap ...`), or null for none. */
  nodeCommand: string[] | null;
  /** Options added after the contract's own (`--keepalive-ms 300`...), for a restart too; absent: none. */
  nodeExtraArgs?: string[];
  /** Namespaces created so far (the underlay's and the hosts'): what `down` deletes. */
  namespaces: string[];
  hosts: HostState[];
}

export function writeState(state: ClusterState): void {
  fs.mkdirSync(path.dirname(state.stateFile), { recursive: true });
  const tmp = `${state.stateFile}.${process.pid}.tmp`;
  fs.writeFileSync(tmp, `${JSON.stringify(state, null, 2)}\n`);
  fs.renameSync(tmp, state.stateFile);
}

/** The state of cluster `id` under `runDir`, or null when there is no state file. */
export function readState(runDir: string, id: string): ClusterState | null {
  const file = path.join(runDir, `cluster-${id}.json`);
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw e;
  }
  const bad = (why: string) =>
    new CondisError(
      'ERR_CONDIS_CLUSTER_FAILED',
      `${file} is not a cluster state file (${why}); remove it by hand`,
      {
        file,
      },
    );
  let s: ClusterState;
  try {
    s = JSON.parse(text) as ClusterState;
  } catch (e) {
    throw bad((e as Error).message);
  }
  if (s.version !== 1 || s.id !== id || !Array.isArray(s.hosts)) throw bad('not version 1 of this id');
  return s;
}

/** The ids of the clusters with a state file under `runDir`. */
export function listClusters(runDir: string): string[] {
  let names: string[];
  try {
    names = fs.readdirSync(runDir);
  } catch {
    return [];
  }
  return names
    .map((n) => /^cluster-([a-z][a-z0-9]*)\.json$/.exec(n)?.[1])
    .filter((x): x is string => x !== undefined)
    .sort();
}
