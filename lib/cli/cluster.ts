/**
 * `condis cluster up|down|status|link` (layer: the CLI): checks the options declared in
 * commands.ts and runs lib/cluster. `up` returns once every node is ready, the nodes keep running
 * (detached) until `down`; SIGINT/SIGTERM/SIGHUP during `up` remove everything made so far and
 * exit 130/143/129.
 */

import { clusterDown } from '../cluster/down';
import { clusterStatus, findCluster, setUnderlayLink } from '../cluster/inspect';
import { splitCommand } from '../cluster/node-process';
import { checkId, DEFAULT_ID, DEFAULT_RUN_DIR, MAX_HOSTS, MIN_HOSTS } from '../cluster/plan';
import { restartHostNode } from '../cluster/restart';
import { clusterUp } from '../cluster/up';
import { CondisError } from '../errors';
import { Interrupts } from './interrupts';
import { intFlag, UsageError, type Values } from './usage';

const out = (s: string) => process.stdout.write(`${s}\n`);
const err = (s: string) => process.stderr.write(`condis cluster: ${s}\n`);

function runDir(f: Values): string {
  return typeof f['run-dir'] === 'string' ? f['run-dir'] : (process.env.CONDIS_RUN_DIR ?? DEFAULT_RUN_DIR);
}

function idFlag(f: Values): string | undefined {
  if (typeof f.id !== 'string') return undefined;
  try {
    return checkId(f.id);
  } catch (e) {
    throw new UsageError(`--id: ${(e as Error).message}`);
  }
}

export async function clusterUpCommand(f: Values, positionals: string[]): Promise<number> {
  const id = idFlag(f) ?? DEFAULT_ID;
  const vni = intFlag('vni', f.vni, 14, 1, 0xffffff);
  const readyTimeout = intFlag('ready-timeout', f['ready-timeout'], 30, 1, 3600);
  if (f['no-nodes'] && f['node-command'] !== undefined)
    throw new UsageError('--no-nodes and --node-command exclude each other');
  const nodeCommand = f['no-nodes']
    ? null
    : typeof f['node-command'] === 'string'
      ? splitCommand(f['node-command'])
      : undefined;
  if (f['no-nodes'] && f['node-args'] !== undefined)
    throw new UsageError('--no-nodes and --node-args exclude each other');
  const nodeExtraArgs = typeof f['node-args'] === 'string' ? splitCommand(f['node-args']) : [];

  // Options first (as every command checks them), then N.
  if (positionals.length !== 1) throw new UsageError(`give the number of hosts, ${MIN_HOSTS}..${MAX_HOSTS}`);
  const n = positionals[0]!;
  if (!/^\d+$/.test(n) || Number(n) < MIN_HOSTS || Number(n) > MAX_HOSTS)
    throw new UsageError(`N (hosts) must be a whole number from ${MIN_HOSTS} to ${MAX_HOSTS}, not "${n}"`);
  const hosts = Number(n);
  const interrupts = new Interrupts();
  try {
    const state = await clusterUp({
      hosts,
      id,
      vni,
      runDir: runDir(f),
      ...(nodeExtraArgs.length > 0 ? { nodeExtraArgs } : {}),
      nodeCommand,
      readyTimeoutMs: readyTimeout * 1000,
      signal: interrupts.signal,
      log: f.json ? undefined : err,
    });
    if (f.json) {
      out(JSON.stringify(state, null, 2));
    } else {
      out(
        `cluster ${state.id} up: ${state.hosts.length} hosts, VXLAN ${state.vni} over ${state.underlay.subnet}`,
      );
      for (const h of state.hosts) {
        const node = h.ready
          ? `node ${h.pid} ${h.tap} ${h.ready.mac} ${h.ip} control ${h.control}`
          : 'no node';
        out(`  ${h.name}  ${h.namespace}  ${h.underlayIp}  ${node}`);
      }
      out(`state: ${state.stateFile}; remove with: condis cluster down --id ${state.id}`);
    }
    return 0;
  } catch (e) {
    if (interrupts.signal.aborted) {
      err(`interrupted (${String(interrupts.signal.reason)}); namespaces, links and nodes removed`);
      return interrupts.exitCode;
    }
    throw e;
  } finally {
    interrupts.dispose();
  }
}

export async function clusterDownCommand(f: Values): Promise<number> {
  const dir = runDir(f);
  const timeout = intFlag('timeout', f.timeout, 5, 0, 600);
  let id = idFlag(f);
  if (id === undefined) {
    // Without --id: the one cluster that is up, else the default id (nothing to do is not an error).
    try {
      id = findCluster(dir, undefined).id;
    } catch (e) {
      if (!(e instanceof CondisError) || !/several/.test(e.message)) id = DEFAULT_ID;
      else throw e;
    }
  }
  const report = await clusterDown({ id, runDir: dir, stopTimeoutMs: timeout * 1000 });
  if (f.json) out(JSON.stringify(report));
  else if (!report.found) out(`cluster ${id}: nothing to remove`);
  else
    out(
      `cluster ${id} down: ${report.stopped.length} process${report.stopped.length === 1 ? '' : 'es'} stopped (${report.killed.length} needed SIGKILL), ` +
        `namespaces removed: ${report.namespaces.join(', ') || 'none'}`,
    );
  if (report.left.length > 0) {
    throw new CondisError('ERR_CONDIS_CLUSTER_FAILED', `could not remove: ${report.left.join(', ')}`, {
      left: report.left,
    });
  }
  return 0;
}

export async function clusterStatusCommand(f: Values): Promise<number> {
  const s = clusterStatus(findCluster(runDir(f), idFlag(f)));
  if (f.json) {
    out(JSON.stringify(s, null, 2));
    return 0;
  }
  // "up" is what `up` finished; say so when a node is not running any more (cluster restart).
  const down = s.hosts.filter((h) => !h.nodeRunning).map((h) => h.name);
  const health = s.status === 'up' && down.length > 0 ? `, node of ${down.join(', ')} not running` : '';
  out(`cluster ${s.id} (${s.status}${health}), VNI ${s.vni}, state ${s.stateFile}`);
  for (const h of s.hosts) {
    out(
      `  ${h.name}  ${h.namespaceExists ? h.namespace : `${h.namespace} (gone)`}  node ${h.pid ?? '-'} ${h.nodeRunning ? 'running' : 'not running'}` +
        `  tap ${h.tapOnBridge ? 'on bridge' : 'off'}  underlay ${h.underlayUp ? 'up' : 'DOWN'}  vxlan tx ${h.vxlanTx ?? '-'} rx ${h.vxlanRx ?? '-'}`,
    );
    // What `condis node <request> --control` needs, and whom to call.
    out(`      mac ${h.mac ?? '-'}  control ${h.control}`);
  }
  return 0;
}

export async function clusterRestartCommand(f: Values, positionals: string[]): Promise<number> {
  // Options first (as every command checks them), then the host.
  const readyTimeout = intFlag('ready-timeout', f['ready-timeout'], 30, 1, 3600);
  if (positionals.length !== 1) throw new UsageError('usage: condis cluster restart <host>');
  const state = findCluster(runDir(f), idFlag(f));
  const pid = await restartHostNode(state, positionals[0]!, { readyTimeoutMs: readyTimeout * 1000 });
  out(`cluster ${state.id}: ${positionals[0]} node ${pid} ready`);
  return 0;
}

export async function clusterLinkCommand(f: Values, positionals: string[]): Promise<number> {
  const [host, how] = positionals;
  if (positionals.length !== 2 || (how !== 'up' && how !== 'down'))
    throw new UsageError('usage: condis cluster link <host> down|up');
  const state = findCluster(runDir(f), idFlag(f));
  setUnderlayLink(state, host!, how === 'up');
  out(`cluster ${state.id}: ${host} underlay ${how}`);
  return 0;
}
