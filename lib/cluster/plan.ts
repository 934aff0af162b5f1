/**
 * The plan of a cluster of hosts on one machine (`condis cluster up N`; layer: host plumbing
 * beside the stack, like lib/host): every name, address and MAC, worked out from the cluster's id
 * and N before anything is created, so that a collision is found up front and `down` can find the
 * same names again from the id alone (even when the state file was never written).
 *
 * Interface names live inside the cluster's own namespaces, never in the caller's: a host's
 * bridge is br0 in every host, and no name can collide with another cluster's or the machine's.
 */
import * as path from 'node:path';
import { CondisError } from '../errors';

/** Hosts per cluster. Each host runs a node (a Node.js process, ~60 MB) and VXLAN floods every
 * broadcast once per peer (head-end replication), so a 2-core machine is the limit, not the /24. */
export const MIN_HOSTS = 2;
export const MAX_HOSTS = 16;

/** The UDP port IANA assigned to VXLAN (RFC 7348), as Linux and every CNI use. */
export const VXLAN_PORT = 4789;
export const DEFAULT_VNI = 14;

/**
 * MTUs. VXLAN over IPv4 wraps the inner frame in 50 bytes (outer Ethernet 14, IP 20, UDP 8,
 * VXLAN 8); the underlay's IP MTU must hold the inner frame (14 + 4 for the VC's 802.1Q tag +
 * 1500) plus 36: 1554. The underlay (veths we own) gets 1600, so the overlay keeps the standard
 * 1500 and a node's VC frames cross unchanged and unfragmented. On real machines with a 1500
 * underlay, lower the overlay instead (docs/cluster.md).
 */
export const OVERLAY_MTU = 1500;
export const UNDERLAY_MTU = 1600;
export const UNDERLAY_MTU_NEEDED = OVERLAY_MTU + 4 + 14 + 8 + 8 + 20;

/** The underlay subnet inside the cluster's own underlay namespace (nothing outside sees it). */
export const UNDERLAY_PREFIX = '192.168.77';
/** Addresses handed to the nodes (`--ip`) on the overlay. */
export const NODE_IP_PREFIX = '10.14.0';

/** Names inside every host namespace. */
export const HOST_BRIDGE = 'br0';
export const HOST_VXLAN = 'vxlan0';
export const HOST_UNDERLAY_IF = 'ul0';
export const HOST_TAP = 'tap0';
/** The underlay namespace's bridge (its ports are h1..hN, one veth end per host). */
export const UNDERLAY_BRIDGE = 'br0';

export const DEFAULT_ID = 'condis';
export const DEFAULT_RUN_DIR = '/run/condis';

/** One host of the plan. */
export interface HostPlan {
  /** h1..hN: what `condis cluster link <host>` takes. */
  name: string;
  namespace: string;
  underlayIp: string;
  /** The host's end of its underlay veth (in the host namespace). */
  underlayIf: string;
  /** The other end, a port of the underlay bridge (in the underlay namespace). */
  underlayPeer: string;
  bridge: string;
  vxlan: string;
  tap: string;
  /** The node's MAC, passed as --mac. */
  mac: string;
  /** The kernel's side of the TAP, set by `up` once the node is ready. */
  tapIfMac: string;
  bridgeMac: string;
  ip: string;
  control: string;
  /** The node's stdout: the ready line, then its JSON events. */
  events: string;
  /** The node's stderr. */
  log: string;
}

export interface ClusterPlan {
  id: string;
  vni: number;
  runDir: string;
  /** runDir/cluster-<id>.json */
  stateFile: string;
  /** runDir/cluster-<id>/: control sockets and the nodes' output. */
  clusterDir: string;
  underlay: { namespace: string; bridge: string; subnet: string; mtu: number };
  hosts: HostPlan[];
}

const ID = /^[a-z][a-z0-9]{0,11}$/;

/** Checks an id given by the user: lower-case letters and digits, a letter first, 1..12. */
export function checkId(id: string): string {
  if (!ID.test(id)) {
    throw new CondisError(
      'ERR_CONDIS_INVALID_ARG',
      `cluster id "${id}": lower-case letters and digits, a letter first, at most 12 characters`,
      { id },
    );
  }
  return id;
}

export function underlayNamespace(id: string): string {
  return `${id}-ul`;
}

/** The namespaces a cluster with this id may own: `<id>-ul` and `<id>-h<n>`. */
export function ownsNamespace(id: string, ns: string): boolean {
  return ns === underlayNamespace(id) || new RegExp(`^${id}-h\\d+$`).test(ns);
}

/**
 * Locally administered unicast MACs of host i: the node's own (`--mac`, the source of its frames),
 * the kernel's side of its TAP, and the host's bridge. The three must differ: a bridge takes a
 * port's own address as local and delivers frames for it to itself instead of out of that port,
 * so a TAP whose kernel address were the node's MAC would never receive the node's traffic (the
 * reason a VM's tap on the host side never carries the guest's MAC either).
 */
export function hostMac(i: number, role: 'node' | 'tap' | 'bridge' = 'node'): string {
  const r = { node: '00', tap: '01', bridge: '02' }[role];
  return `02:cc:${r}:00:00:${i.toString(16).padStart(2, '0')}`;
}

export function planCluster(opts: { id: string; hosts: number; vni?: number; runDir?: string }): ClusterPlan {
  const id = checkId(opts.id);
  const n = opts.hosts;
  if (!Number.isInteger(n) || n < MIN_HOSTS || n > MAX_HOSTS) {
    throw new CondisError(
      'ERR_CONDIS_INVALID_ARG',
      `hosts must be a whole number from ${MIN_HOSTS} to ${MAX_HOSTS} (got ${n})`,
      { hosts: n },
    );
  }
  const vni = opts.vni ?? DEFAULT_VNI;
  if (!Number.isInteger(vni) || vni < 1 || vni > 0xffffff) {
    throw new CondisError('ERR_CONDIS_INVALID_ARG', `vni must be from 1 to 16777215 (got ${vni})`, { vni });
  }
  const runDir = opts.runDir ?? DEFAULT_RUN_DIR;
  const clusterDir = path.join(runDir, `cluster-${id}`);
  const hosts: HostPlan[] = [];
  for (let i = 1; i <= n; i++) {
    const name = `h${i}`;
    hosts.push({
      name,
      namespace: `${id}-${name}`,
      underlayIp: `${UNDERLAY_PREFIX}.${i}`,
      underlayIf: HOST_UNDERLAY_IF,
      underlayPeer: name,
      bridge: HOST_BRIDGE,
      vxlan: HOST_VXLAN,
      tap: HOST_TAP,
      mac: hostMac(i),
      tapIfMac: hostMac(i, 'tap'),
      bridgeMac: hostMac(i, 'bridge'),
      ip: `${NODE_IP_PREFIX}.${i}/24`,
      control: path.join(clusterDir, `${name}.sock`),
      events: path.join(clusterDir, `${name}.events`),
      log: path.join(clusterDir, `${name}.log`),
    });
  }
  return {
    id,
    vni,
    runDir,
    stateFile: path.join(runDir, `cluster-${id}.json`),
    clusterDir,
    underlay: {
      namespace: underlayNamespace(id),
      bridge: UNDERLAY_BRIDGE,
      subnet: `${UNDERLAY_PREFIX}.0/24`,
      mtu: UNDERLAY_MTU,
    },
    hosts,
  };
}
