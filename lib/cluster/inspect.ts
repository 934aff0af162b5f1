/**
 * `condis cluster status` and `condis cluster link <host> down|up`: what a running cluster looks
 * like now (namespaces, node processes, TAPs on their bridges, underlay links, the VXLAN's
 * counters), read live from the kernel rather than trusted from the state file; and cutting or
 * restoring a host's underlay link (its veth end ul0: the other end loses its carrier too, as a
 * pulled cable would).
 */
import { CondisError } from '../errors';
import { listNamespaces, nsRun } from './netns';
import { isNodeOf } from './node-process';
import { type ClusterState, listClusters, readState } from './state';

/** The state of cluster `id`; without an id, the one cluster under runDir (an error if none or several). */
export function findCluster(runDir: string, id: string | undefined): ClusterState {
  if (id === undefined) {
    const ids = listClusters(runDir);
    if (ids.length !== 1) {
      throw new CondisError(
        'ERR_CONDIS_CLUSTER_NOT_FOUND',
        ids.length === 0
          ? `no cluster is up (no state file in ${runDir})`
          : `several clusters are up (${ids.join(', ')}); name one with --id`,
        { runDir, ids },
      );
    }
    id = ids[0]!;
  }
  const state = readState(runDir, id);
  if (state === null) {
    throw new CondisError('ERR_CONDIS_CLUSTER_NOT_FOUND', `no cluster "${id}" (no state file in ${runDir})`, {
      runDir,
      id,
    });
  }
  return state;
}

interface LinkInfo {
  operstate: string;
  master?: string;
  flags: string[];
  stats64?: { rx: { packets: number; bytes: number }; tx: { packets: number; bytes: number } };
}

function link(ns: string, ifname: string): LinkInfo | null {
  try {
    return (
      (JSON.parse(nsRun(ns, 'ip', ['-j', '-s', 'link', 'show', 'dev', ifname])) as LinkInfo[])[0] ?? null
    );
  } catch {
    return null;
  }
}

export interface HostStatus {
  name: string;
  namespace: string;
  namespaceExists: boolean;
  pid: number | null;
  nodeRunning: boolean;
  mac: string | null;
  control: string;
  /** The TAP is a port of the host's bridge and up. */
  tapOnBridge: boolean;
  /** The host's underlay veth is administratively up with a carrier. */
  underlayUp: boolean;
  vxlanTx: number | null;
  vxlanRx: number | null;
}

export interface ClusterStatus {
  id: string;
  status: ClusterState['status'];
  vni: number;
  stateFile: string;
  hosts: HostStatus[];
}

export function clusterStatus(state: ClusterState): ClusterStatus {
  const namespaces = new Set(listNamespaces());
  return {
    id: state.id,
    status: state.status,
    vni: state.vni,
    stateFile: state.stateFile,
    hosts: state.hosts.map((h) => {
      const exists = namespaces.has(h.namespace);
      const tap = exists ? link(h.namespace, h.tap) : null;
      const ul = exists ? link(h.namespace, h.underlayIf) : null;
      const vx = exists ? link(h.namespace, h.vxlan) : null;
      return {
        name: h.name,
        namespace: h.namespace,
        namespaceExists: exists,
        pid: h.pid,
        nodeRunning: h.pid !== null && isNodeOf(h.pid, h),
        mac: h.ready?.mac ?? null,
        control: h.control,
        tapOnBridge: tap !== null && tap.master === h.bridge && tap.flags.includes('UP'),
        underlayUp: ul?.flags.includes('UP') === true && !ul.flags.includes('NO-CARRIER'),
        vxlanTx: vx?.stats64?.tx.packets ?? null,
        vxlanRx: vx?.stats64?.rx.packets ?? null,
      };
    }),
  };
}

/** `ip link set ul0 down|up` in `host` (h1.. or its namespace's name). */
export function setUnderlayLink(state: ClusterState, host: string, up: boolean): void {
  const h = state.hosts.find((x) => x.name === host || x.namespace === host);
  if (!h) {
    throw new CondisError(
      'ERR_CONDIS_CLUSTER_NOT_FOUND',
      `cluster "${state.id}" has no host "${host}" (hosts: ${state.hosts.map((x) => x.name).join(', ')})`,
      { id: state.id, host },
    );
  }
  nsRun(h.namespace, 'ip', ['link', 'set', h.underlayIf, up ? 'up' : 'down']);
}
