/**
 * The demo's hosts backend (demo-topology.ts): `condis cluster up 2` of its own — two network
 * namespaces as hosts, each with a `condis node --trace` process whose TAP is a port of the
 * host's bridge, the bridges joined by VXLAN over a veth underlay (lib/cluster/up.ts) — and one
 * control-socket connection to each node. The call's frames leave A's device 802.1Q-tagged, cross
 * A's bridge, VXLAN and the underlay and come out of B's TAP: the kernel carries them, as it would
 * between two machines.
 *
 * The cluster gets a run directory of its own (never the user's /run/condis) and an id from this
 * process's pid, so a demo never meets a cluster the user made. Removed by the run's teardown:
 * the nodes are stopped with SIGTERM (each closes its calls and drains), then the namespaces go.
 *
 * Layer: scenarios; uses lib/cluster and lib/node's control client.
 */
import * as fs from 'node:fs';
import { teardown } from '../cluster/down';
import { ownRunDir, removeStaleClusters } from '../cluster/stale';
import { readState } from '../cluster/state';
import { clusterUp, hostsUnavailable } from '../cluster/up';
import { CondisError } from '../errors';
import { ControlClient } from '../node/control-client';
import type { DemoRun } from './demo-run';
import { DEMO_SAP, type DemoEnd, type DemoNodes, NODE_STACK } from './demo-topology';

/**
 * Builds the 2-host cluster with traced nodes (each warmed up first when `warm`: its drains are
 * then not V8's first run of the path) and connects to both control sockets.
 */
export async function openHostsNodes(
  run: DemoRun,
  warm: boolean,
  log?: (line: string) => void,
): Promise<DemoNodes> {
  const no = hostsUnavailable();
  if (no)
    throw new CondisError(no.code, `demo --backend hosts: ${no.why}; --backend wire needs no privilege`);
  // A demo killed with SIGKILL left its cluster: the pid in its name runs no more.
  const swept = await run.guard(removeStaleClusters('cd'));
  const id = `cd${process.pid}`;
  // Under /run/condis, named by the id: a run killed before it could remove it is found again.
  const runDir = ownRunDir(id);
  fs.mkdirSync(runDir, { recursive: true, mode: 0o700 });
  const cluster = `cluster ${id} (namespaces ${id}-h1, ${id}-h2, ${id}-ul; 2 node processes)`;
  run.defer(cluster, async () => {
    try {
      const r = await teardown(id, runDir, readState(runDir, id), 5000);
      if (r.left.length > 0)
        throw new CondisError('ERR_CONDIS_DEMO_FAILED', `cluster ${id}: left behind: ${r.left.join(', ')}`);
    } finally {
      fs.rmSync(runDir, { recursive: true, force: true });
    }
  });
  const state = await run.guard(
    clusterUp({
      hosts: 2,
      id,
      runDir,
      nodeExtraArgs: ['--trace', '--sap', String(DEMO_SAP), ...(warm ? ['--warm-up'] : [])],
      ...(run.signal ? { signal: run.signal } : {}),
      ...(log ? { log } : {}),
    }),
  );
  const [ha, hb] = state.hosts as [(typeof state.hosts)[0], (typeof state.hosts)[0]];
  const connect = async (name: 'A' | 'B', h: typeof ha): Promise<DemoEnd> => {
    const c = await ControlClient.connect(h.control);
    run.defer('', () => c.close());
    return {
      name,
      mac: h.mac,
      ip: h.ip,
      request: async (req) => {
        const r = await c.request(req);
        if (r.ok) return r;
        throw new CondisError(
          typeof r.code === 'string' ? r.code : 'ERR_CONDIS_INTERNAL',
          `node ${name}: ${String(req.cmd)}: ${String(r.message)}`,
          typeof r.status === 'string' ? { status: r.status } : {},
        );
      },
    };
  };
  const a = await connect('A', ha);
  const b = await connect('B', hb);
  return {
    backend: 'hosts',
    a,
    b,
    note: `two node processes in namespaces ${ha.namespace} and ${hb.namespace}; A ${ha.mac} calls B ${hb.mac} across bridge + VXLAN (VNI ${state.vni}) over a veth underlay${warm ? '; each node ran warmUp() before it opened its TAP (--cold skips it)' : ''}${swept.length ? `; removed first what killed demos left: cluster ${swept.join(', ')}` : ''}`,
    topology: `node A (pid ${ha.pid}, ${ha.tap} + ${NODE_STACK}, ${ha.ip}) -> ${ha.bridge} -> ${ha.vxlan} -> underlay -> ${hb.vxlan} -> ${hb.bridge} -> node B (pid ${hb.pid}, ${hb.tap} + ${NODE_STACK}, ${hb.ip}, SAP ${DEMO_SAP}); signalling on VID 0, the call on its own VID (802.1Q inside VXLAN)`,
  };
}
