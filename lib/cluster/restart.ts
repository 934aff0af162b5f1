/**
 * A host's node started again (after it was killed or crashed): the same command, TAP name, MAC,
 * address and control socket as `condis cluster up` gave it, inside the same namespace; its ready
 * line awaited and its new TAP enslaved to the host's bridge, as `up` does. What a restarted
 * machine would do; the tests use it to check that a node's peers refuse nothing of its new life
 * and it nothing of their stale calls (issue 14).
 */
import { CondisError } from '../errors';
import { alive, isNodeOf, logTail, readReady, startNode } from './node-process';
import type { ClusterState } from './state';
import { writeState } from './state';
import { enslaveTap } from './up';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * Starts host `host`'s node again and resolves with its pid once it is ready and its TAP is on
 * the bridge (the state file updated). ERR_CONDIS_CLUSTER_NOT_FOUND for an unknown host;
 * ERR_CONDIS_CLUSTER_FAILED if the cluster has no node command, the old node still runs (stop it
 * first: two nodes cannot own one TAP name), or the new one exits or stays silent for
 * `readyTimeoutMs` (default 30 s; it is then killed).
 */
export async function restartHostNode(
  state: ClusterState,
  host: string,
  opts: { readyTimeoutMs?: number } = {},
): Promise<number> {
  const h = state.hosts.find((x) => x.name === host || x.namespace === host);
  if (!h) {
    throw new CondisError('ERR_CONDIS_CLUSTER_NOT_FOUND', `cluster "${state.id}" has no host "${host}"`, {
      id: state.id,
      host,
    });
  }
  const fail = (why: string, details: Record<string, unknown> = {}) =>
    new CondisError('ERR_CONDIS_CLUSTER_FAILED', `${h.name}: ${why}`, { host: h.name, ...details });
  if (state.nodeCommand === null) throw fail('the cluster runs no nodes');
  if (h.pid !== null && isNodeOf(h.pid, h)) throw fail(`its node ${h.pid} still runs; stop it first`);
  let exited: number | null | undefined;
  h.ready = null;
  h.tapEnslaved = false;
  const pid = startNode(h, state.nodeCommand, (code) => (exited = code), state.nodeExtraArgs);
  h.pid = pid;
  writeState(state);
  const until = Date.now() + (opts.readyTimeoutMs ?? 30_000);
  for (;;) {
    const ready = readReady(h);
    if (ready !== null) {
      h.ready = ready;
      enslaveTap(h);
      writeState(state);
      return pid;
    }
    if (exited !== undefined)
      throw fail(`the node exited (status ${exited}) before its ready line: ${logTail(h) || 'no output'}`, {
        status: exited,
      });
    if (Date.now() > until) {
      if (alive(pid)) process.kill(pid, 'SIGKILL');
      throw fail(`no ready line within ${opts.readyTimeoutMs ?? 30_000} ms`);
    }
    await sleep(50);
  }
}
