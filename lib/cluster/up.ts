/**
 * `condis cluster up N`: N network namespaces as hosts on this machine, joined by the kernel's
 * own overlay, and one node process per host.
 *
 *   underlay namespace <id>-ul: bridge br0 (MTU 1600), ports h1..hN
 *        | veth h<i> <-> ul0 (192.168.77.<i>/24, MTU 1600)
 *   host namespace <id>-h<i>: bridge br0 (MTU 1500)
 *        ports: vxlan0 (VNI, dstport 4789, local 192.168.77.<i>, dev ul0) and the node's tap0
 *
 * VXLAN's flooding is unicast head-end replication: one all-zeros FDB entry per peer
 * (`bridge fdb append 00:00:00:00:00:00 dev vxlan0 dst <peer>`), and the bridge of each host
 * learns which remote VTEP a MAC sits behind from the traffic. Not a multicast group: the same
 * configuration then works between real machines on any routed network or cloud (where multicast
 * rarely passes), which is what the README's two-machine recipe uses, and N is small, so sending
 * a broadcast N-1 times costs little.
 *
 * Every step is written to the state file as it is done, and any failure or an abort (Ctrl-C,
 * SIGTERM in the CLI) tears down what was made (down.ts) before the error is thrown.
 */
import * as fs from 'node:fs';
import { CondisError } from '../errors';
import { afterPendingSignals, HostNamespace } from '../host/namespace';
import { teardown } from './down';
import { listNamespaces, nsRun } from './netns';
import { defaultNodeCommand, logTail, readReady, splitCommand, startNode } from './node-process';
import { type ClusterPlan, DEFAULT_ID, OVERLAY_MTU, planCluster, VXLAN_PORT } from './plan';
import { type ClusterState, type HostState, readState, writeState } from './state';

/** What clusterUp builds: N hosts, the cluster's id, where its state goes, the nodes' command. */
export interface UpOptions {
  hosts: number;
  id?: string;
  vni?: number;
  runDir?: string;
  /**
   * The command each node runs as (`node --tap ...` is appended); null: no nodes, the bare
   * topology (hosts without TAPs). Default: $CONDIS_CLUSTER_NODE (split on blanks), else this
   * package's bin/condis.js.
   */
  nodeCommand?: string[] | null;
  /**
   * Options appended after the contract's `node --tap ...` of every node (e.g. `--queue-pairs 64`,
   * `--keepalive-ms 300`); kept in the state file for a restart. Default none.
   */
  nodeExtraArgs?: string[];
  /** How long a node may take to print its ready line (default 30 s). */
  readyTimeoutMs?: number;
  /** SIGTERM to SIGKILL when cleaning up after a failure (default 5 s). */
  stopTimeoutMs?: number;
  signal?: AbortSignal;
  log?: (line: string) => void;
}

/**
 * Why clusterUp cannot run here (with the code to fail with), or null: what `condis demo`'s auto
 * backend and `condis bench calls`' hosts path check before they build a cluster of their own.
 */
export function hostsUnavailable(): { code: string; why: string } | null {
  if (process.platform !== 'linux') return { code: 'ENOTSUP', why: 'Linux only' };
  if (typeof process.getuid === 'function' && process.getuid() !== 0)
    return { code: 'EPERM', why: 'needs root (network namespaces, bridges, VXLAN, TAPs)' };
  if (!fs.existsSync('/dev/net/tun')) return { code: 'ENOENT', why: 'no /dev/net/tun' };
  return null;
}

/** The node command `up` uses when none is given. */
export function resolveNodeCommand(given: string[] | null | undefined): string[] | null {
  if (given !== undefined) return given;
  const env = process.env.CONDIS_CLUSTER_NODE;
  if (env !== undefined && env.trim() !== '') return splitCommand(env);
  return defaultNodeCommand();
}

/** Why the cluster cannot take these names, or null: its state file or a namespace exists. */
function collision(plan: ClusterPlan): string | null {
  if (readState(plan.runDir, plan.id) !== null || fs.existsSync(plan.stateFile)) {
    return `cluster "${plan.id}" exists (${plan.stateFile}); run \`condis cluster down --id ${plan.id}\` first`;
  }
  const existing = new Set(listNamespaces());
  for (const ns of [plan.underlay.namespace, ...plan.hosts.map((h) => h.namespace)]) {
    if (existing.has(ns))
      return `network namespace ${ns} exists already (not made by this cluster; left as is)`;
  }
  return null;
}

function checkAbort(signal: AbortSignal | undefined): void {
  if (signal?.aborted) {
    throw new CondisError('ERR_CONDIS_CLUSTER_FAILED', `interrupted (${String(signal.reason)})`, {
      interrupted: true,
    });
  }
}

/** A namespace with IPv6 off (HostNamespace.create): no router solicitations or MLD on the overlay. */
function addNamespace(state: ClusterState, name: string): void {
  try {
    HostNamespace.create(name);
  } catch (e) {
    throw new CondisError('ERR_CONDIS_CLUSTER_FAILED', `ip netns add ${name}: ${(e as Error).message}`, {
      namespace: name,
    });
  }
  state.namespaces.push(name);
  writeState(state);
}

function buildUnderlay(state: ClusterState): void {
  const ul = state.underlay;
  addNamespace(state, ul.namespace);
  nsRun(ul.namespace, 'ip', ['link', 'add', ul.bridge, 'mtu', String(ul.mtu), 'type', 'bridge']);
  nsRun(ul.namespace, 'ip', ['link', 'set', ul.bridge, 'up']);
}

function buildHost(state: ClusterState, h: HostState): void {
  const ul = state.underlay;
  addNamespace(state, h.namespace);
  const inHost = (args: string[]) => nsRun(h.namespace, 'ip', args);
  // Both veth ends are made directly in their namespaces: nothing appears in the caller's.
  nsRun(ul.namespace, 'ip', [
    'link', 'add', h.underlayPeer, 'mtu', String(ul.mtu), 'type', 'veth',
    'peer', 'name', h.underlayIf, 'mtu', String(ul.mtu), 'netns', h.namespace,
  ]); // biome-ignore format: ip's words read best in one line
  nsRun(ul.namespace, 'ip', ['link', 'set', h.underlayPeer, 'master', ul.bridge, 'up']);
  inHost(['addr', 'add', `${h.underlayIp}/24`, 'dev', h.underlayIf]);
  inHost(['link', 'set', h.underlayIf, 'up']);
  inHost(['link', 'set', 'lo', 'up']);
  // The bridge's MTU set by hand stays 1500 whatever its ports' MTUs are.
  // A fixed address: else the bridge takes its lowest port's, which changes as ports come and go.
  inHost(['link', 'add', h.bridge, 'address', h.bridgeMac, 'mtu', String(OVERLAY_MTU), 'type', 'bridge']);
  inHost([
    'link', 'add', h.vxlan, 'mtu', String(OVERLAY_MTU), 'type', 'vxlan', 'id', String(state.vni),
    'dstport', String(VXLAN_PORT), 'local', h.underlayIp, 'dev', h.underlayIf,
  ]); // biome-ignore format: ip's words read best in one line
  for (const peer of state.hosts) {
    if (peer === h) continue;
    nsRun(h.namespace, 'bridge', [
      'fdb',
      'append',
      '00:00:00:00:00:00',
      'dev',
      h.vxlan,
      'dst',
      peer.underlayIp,
    ]);
  }
  inHost(['link', 'set', h.vxlan, 'master', h.bridge, 'up']);
  inHost(['link', 'set', h.bridge, 'up']);
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * Makes host h's TAP (created by its node) a port of the host's bridge, up. The kernel's side of
 * the TAP gets an address of its own (plan.ts hostMac: never the node's).
 */
export function enslaveTap(h: HostState): void {
  nsRun(h.namespace, 'ip', ['link', 'set', h.tap, 'address', h.tapIfMac]);
  nsRun(h.namespace, 'ip', ['link', 'set', h.tap, 'master', h.bridge]);
  nsRun(h.namespace, 'ip', ['link', 'set', h.tap, 'up']);
  h.tapEnslaved = true;
}

/** Starts every host's node, waits for every ready line, and enslaves each TAP to its bridge. */
async function startNodes(state: ClusterState, command: string[], opts: UpOptions): Promise<void> {
  const exited = new Map<string, number | null>();
  for (const h of state.hosts) {
    h.pid = startNode(h, command, (code) => exited.set(h.name, code), state.nodeExtraArgs);
    writeState(state);
  }
  const until = Date.now() + (opts.readyTimeoutMs ?? 30_000);
  for (;;) {
    checkAbort(opts.signal);
    let waiting = 0;
    for (const h of state.hosts) {
      if (h.tapEnslaved) continue;
      const ready = readReady(h);
      if (ready === null) {
        if (exited.has(h.name)) {
          throw new CondisError(
            'ERR_CONDIS_CLUSTER_FAILED',
            `${h.name}: the node exited (status ${exited.get(h.name)}) before its ready line: ${logTail(h) || 'no output'}`,
            { host: h.name, status: exited.get(h.name) },
          );
        }
        waiting++;
        continue;
      }
      h.ready = ready;
      enslaveTap(h);
      writeState(state);
      opts.log?.(`${h.name}: node ${h.pid} ready, ${h.tap} (${ready.mac}) on ${h.bridge}`);
    }
    if (waiting === 0) return;
    if (Date.now() > until) {
      const late = state.hosts.filter((h) => !h.tapEnslaved).map((h) => h.name);
      throw new CondisError(
        'ERR_CONDIS_CLUSTER_FAILED',
        `no ready line from the node of ${late.join(', ')} within ${opts.readyTimeoutMs ?? 30_000} ms`,
        { hosts: late },
      );
    }
    await sleep(50);
  }
}

/**
 * Builds the cluster and returns its state (also in its state file). On any failure or abort,
 * everything made is removed and a CondisError thrown: ERR_CONDIS_INVALID_ARG (N, id, VNI),
 * ERR_CONDIS_CLUSTER_EXISTS (a name is taken; nothing is touched), ERR_CONDIS_CLUSTER_FAILED
 * (a step failed or was interrupted: `details.interrupted`).
 */
export async function clusterUp(opts: UpOptions): Promise<ClusterState> {
  const plan = planCluster({
    id: opts.id ?? DEFAULT_ID,
    hosts: opts.hosts,
    vni: opts.vni,
    runDir: opts.runDir,
  });
  const command = resolveNodeCommand(opts.nodeCommand);
  const why = collision(plan);
  if (why !== null) throw new CondisError('ERR_CONDIS_CLUSTER_EXISTS', why, { id: plan.id });
  const state: ClusterState = {
    version: 1,
    status: 'building',
    createdAt: new Date().toISOString(),
    ...plan,
    dstport: VXLAN_PORT,
    overlayMtu: OVERLAY_MTU,
    nodeCommand: command,
    ...(opts.nodeExtraArgs?.length ? { nodeExtraArgs: [...opts.nodeExtraArgs] } : {}),
    namespaces: [],
    hosts: plan.hosts.map((h) => ({ ...h, pid: null, ready: null, tapEnslaved: false })),
  };
  try {
    fs.mkdirSync(plan.clusterDir, { recursive: true });
    writeState(state);
    buildUnderlay(state);
    for (const h of state.hosts) {
      checkAbort(opts.signal);
      buildHost(state, h);
      opts.log?.(
        `${h.name}: ${h.namespace}, ${h.underlayIf} ${h.underlayIp}, ${h.bridge} + ${h.vxlan} (VNI ${state.vni})`,
      );
    }
    if (command !== null) await startNodes(state, command, opts);
    state.status = 'up';
    writeState(state);
    return state;
  } catch (e) {
    // Ctrl-C also kills the ip command under way: report the interruption, not its failure.
    await afterPendingSignals();
    const interrupted = opts.signal?.aborted === true && !(e instanceof CondisError && e.details.interrupted);
    opts.log?.(`${interrupted ? 'interrupted' : `failed: ${(e as Error).message}`}; removing what was made`);
    await teardown(state.id, state.runDir, state, opts.stopTimeoutMs ?? 5000);
    if (interrupted)
      throw new CondisError('ERR_CONDIS_CLUSTER_FAILED', `interrupted (${String(opts.signal!.reason)})`, {
        interrupted: true,
      });
    throw e;
  }
}
