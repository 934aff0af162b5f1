/**
 * `condis cluster up|status|link|down` on real namespaces (root; mandatory under CI=true), with
 * the TEST STAND-IN node (test/helpers/cluster-standin-node.py) until `condis node` is merged.
 * The kernel is the peer: each host's bridge gets an address on an overlay subnet of the test's
 * own (10.99.0.0/24) and the kernel's ping crosses between every pair of hosts over VXLAN; a
 * 1518-byte 802.1Q frame sent into host 1's bridge arrives, tagged and whole, on host 2's TAP; a
 * cut underlay link stops the pings and its restore brings them back; `down` leaves nothing, twice;
 * a failed or interrupted `up` removes what it made and says why with a code.
 * Every cluster id starts with cc<pid>, so parallel workers never share a name.
 */
import { spawn, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { teardown } from '../../lib/cluster/down';
import { listNamespaces } from '../../lib/cluster/netns';
import { alive } from '../../lib/cluster/node-process';
import { type ClusterState, readState } from '../../lib/cluster/state';
import { clusterUp } from '../../lib/cluster/up';
import { runMain } from '../cli/helpers';
import { processesMentioning } from '../helpers/host';
import { tapTestsEnabled } from '../helpers/privilege';

const enabled = tapTestsEnabled('condis cluster');
const STANDIN = `python3 ${path.join(__dirname, '../helpers/cluster-standin-node.py')}`;
const AFPACKET = path.join(__dirname, '../helpers/afpacket.py');
const CLI = path.join(__dirname, 'fixtures/cli.ts');
const BASE = `cc${process.pid}`;

function nsOf(id: string): string[] {
  return listNamespaces().filter((n) => n.startsWith(`${id}-`));
}

/** The kernel's ping from one host namespace; ping's own deadline (-w) bounds it. */
function ping(ns: string, target: string, args: string[]): number {
  const r = spawnSync('ip', ['netns', 'exec', ns, 'ping', '-n', ...args, target], { encoding: 'utf8' });
  const m = /(\d+) packets transmitted, (\d+) received/.exec(r.stdout);
  if (!m) throw new Error(`ping ${target} in ${ns} gave no summary: ${r.stdout} ${r.stderr}`);
  return Number(m[2]);
}

function ip(ns: string, args: string[]): string {
  const r = spawnSync('ip', ['-n', ns, ...args], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`ip -n ${ns} ${args.join(' ')}: ${r.stderr}`);
  return r.stdout;
}

function txPackets(ns: string, ifname: string): number {
  return (
    JSON.parse(ip(ns, ['-j', '-s', 'link', 'show', 'dev', ifname])) as [
      { stats64: { tx: { packets: number } } },
    ]
  )[0].stats64.tx.packets;
}

/** The IP fragments a namespace made and was asked to reassemble (/proc/net/snmp, per namespace). */
function fragments(ns: string): { created: number; reassembly: number } {
  const lines = spawnSync('ip', ['netns', 'exec', ns, 'cat', '/proc/net/snmp'], { encoding: 'utf8' })
    .stdout.split('\n')
    .filter((l) => l.startsWith('Ip:'));
  const keys = lines[0]!.split(/\s+/);
  const values = lines[1]!.split(/\s+/).map(Number);
  return { created: values[keys.indexOf('FragCreates')]!, reassembly: values[keys.indexOf('ReasmReqds')]! };
}

describe.skipIf(!enabled)('condis cluster (stand-in nodes, the kernel as peer)', () => {
  const runDir = fs.mkdtempSync(path.join(os.tmpdir(), 'cc-cluster-'));
  const ids: string[] = [];
  const strays: string[] = [];
  const idFor = (suffix: string) => {
    const id = `${BASE}${suffix}`;
    ids.push(id);
    return id;
  };
  const cli = (args: string[]) => runMain(['cluster', ...args, '--run-dir', runDir]);

  afterAll(async () => {
    delete process.env.CC_STANDIN_FAIL;
    delete process.env.CC_STANDIN_HANG;
    for (const id of ids) await teardown(id, runDir, readState(runDir, id), 2000);
    for (const ns of strays) spawnSync('ip', ['netns', 'del', ns]);
    fs.rmSync(runDir, { recursive: true, force: true });
  });

  describe('up 3, the overlay, a cut, down', () => {
    const id = idFor('a');
    const host = (i: number) => `${id}-h${i}`;

    beforeAll(async () => {
      const r = await cli(['up', '3', '--id', id, '--node-command', STANDIN]);
      expect(r.stderr).not.toMatch(/ERR_/);
      expect(r.code).toBe(0);
      // The kernel's end of the overlay on each host: an address on its bridge.
      for (let i = 1; i <= 3; i++) ip(host(i), ['addr', 'add', `10.99.0.${i}/24`, 'dev', 'br0']);
    });

    it('makes 3 hosts and an underlay, a node on each with its TAP on the bridge, and a state file', async () => {
      expect(nsOf(id).sort()).toEqual([`${id}-h1`, `${id}-h2`, `${id}-h3`, `${id}-ul`]);
      const state = readState(runDir, id)!;
      expect(state.status).toBe('up');
      expect(state.hosts.map((h) => h.ready?.mac)).toEqual([
        '02:cc:00:00:00:01',
        '02:cc:00:00:00:02',
        '02:cc:00:00:00:03',
      ]);
      const st = await cli(['status', '--id', id, '--json']);
      expect(st.code).toBe(0);
      const hosts = JSON.parse(st.stdout).hosts as Array<Record<string, unknown>>;
      for (const h of hosts) {
        expect(h).toMatchObject({
          namespaceExists: true,
          nodeRunning: true,
          tapOnBridge: true,
          underlayUp: true,
        });
      }
      // Unicast flooding: one all-zeros FDB entry per peer on each host's vxlan0.
      const fdb = spawnSync('ip', ['netns', 'exec', host(1), 'bridge', 'fdb', 'show', 'dev', 'vxlan0'], {
        encoding: 'utf8',
      }).stdout;
      expect(fdb).toMatch(/00:00:00:00:00:00 dst 192\.168\.77\.2/);
      expect(fdb).toMatch(/00:00:00:00:00:00 dst 192\.168\.77\.3/);
    });

    it('a second up with the same id is refused and leaves the first alone', async () => {
      const r = await cli(['up', '3', '--id', id, '--node-command', STANDIN]);
      expect(r.code).toBe(1);
      expect(r.stderr).toMatch(/ERR_CONDIS_CLUSTER_EXISTS/);
      expect(nsOf(id)).toHaveLength(4);
      expect(readState(runDir, id)!.hosts.every((h) => h.pid !== null && alive(h.pid))).toBe(true);
    });

    it('the kernel pings between every pair of hosts across VXLAN, 1500-byte packets unfragmented', () => {
      for (let i = 1; i <= 3; i++) {
        for (let j = 1; j <= 3; j++) {
          if (i === j) continue;
          const before = txPackets(host(i), 'vxlan0');
          expect(ping(host(i), `10.99.0.${j}`, ['-c', '3', '-i', '0.2', '-w', '10'])).toBe(3);
          // Through vxlan0, not some other path: its counter moved by at least the requests.
          expect(txPackets(host(i), 'vxlan0') - before).toBeGreaterThanOrEqual(3);
        }
      }
      // DF set, 1472 + 28 = 1500 bytes of IP: needs the 1600-byte underlay (1550 on the wire).
      expect(ping(host(1), '10.99.0.3', ['-M', 'do', '-s', '1472', '-c', '2', '-i', '0.2', '-w', '10'])).toBe(
        2,
      );
    });

    it("a 1518-byte 802.1Q frame sent into host 1's bridge arrives tagged and whole on host 2's TAP", async () => {
      const state = readState(runDir, id)!;
      const dst = state.hosts[1]!.ready!.mac.replaceAll(':', '');
      const frame = `${dst}02cc0e000001${'8100002a'}88b5${'a5'.repeat(1500)}`;
      expect(frame.length / 2).toBe(1518);
      const cap = spawn(
        'ip',
        ['netns', 'exec', host(2), 'python3', AFPACKET, 'recv', 'tap0', String(0x8100), '1', '10000'],
        {
          stdio: ['ignore', 'pipe', 'pipe'],
        },
      );
      let out = '';
      let err = '';
      cap.stdout.on('data', (d) => {
        out += d;
      });
      const done = new Promise<number | null>((resolve) => cap.on('exit', resolve));
      try {
        await new Promise<void>((resolve, reject) => {
          cap.stderr.on('data', (d) => {
            err += d;
            if (err.includes('READY')) resolve();
          });
          cap.on('exit', () => reject(new Error(`capture exited: ${err}`)));
        });
        const before = txPackets(host(1), 'vxlan0');
        const frags = fragments(host(2));
        const send = spawnSync(
          'ip',
          ['netns', 'exec', host(1), 'python3', AFPACKET, 'send', 'br0', frame, '1'],
          {
            encoding: 'utf8',
          },
        );
        expect(send.status, send.stderr).toBe(0);
        expect(await done).toBe(0);
        expect(out.trim().split('\n')).toEqual([frame]);
        expect(txPackets(host(1), 'vxlan0') - before).toBeGreaterThanOrEqual(1);
        expect(fragments(host(2))).toEqual(frags);
      } finally {
        if (cap.exitCode === null) cap.kill('SIGKILL');
      }
    });

    it("cutting host 2's underlay link stops the pings to it; restoring it brings them back", async () => {
      expect((await cli(['link', 'h2', 'down', '--id', id])).code).toBe(0);
      const st = JSON.parse((await cli(['status', '--id', id, '--json'])).stdout);
      expect(st.hosts.map((h: { underlayUp: boolean }) => h.underlayUp)).toEqual([true, false, true]);
      expect(ping(host(1), '10.99.0.2', ['-c', '3', '-i', '0.2', '-w', '3'])).toBe(0);
      expect(ping(host(1), '10.99.0.3', ['-c', '3', '-i', '0.2', '-w', '10'])).toBe(3);
      expect((await cli(['link', 'h2', 'up', '--id', id])).code).toBe(0);
      expect(ping(host(1), '10.99.0.2', ['-c', '3', '-i', '0.2', '-w', '10'])).toBe(3);
      expect(ping(host(2), '10.99.0.3', ['-c', '3', '-i', '0.2', '-w', '10'])).toBe(3);
    });

    it('nothing is fragmented at 1600 on the underlay; at 1500 the outer packets would be', () => {
      const all = () => [1, 2, 3].map((i) => fragments(host(i)));
      const big = (from: number, to: number) =>
        ping(host(from), `10.99.0.${to}`, ['-M', 'do', '-s', '1472', '-c', '2', '-i', '0.2', '-w', '10']);
      const before = all();
      expect(big(1, 3)).toBe(2);
      expect(big(3, 2)).toBe(2);
      expect(all()).toEqual(before);
      // The control: h3's underlay at 1500, its 1554-byte outer replies are cut in two (DF is not
      // set on the outer header), which is what the 1600 avoids.
      const setMtu = (mtu: string) => {
        ip(host(3), ['link', 'set', 'ul0', 'mtu', mtu]);
        ip(`${id}-ul`, ['link', 'set', 'h3', 'mtu', mtu]);
      };
      setMtu('1500');
      try {
        const h3 = fragments(host(3));
        big(1, 3);
        expect(fragments(host(3)).created).toBeGreaterThan(h3.created);
      } finally {
        setMtu('1600');
      }
    });

    it('an unknown host is a coded error', async () => {
      const r = await cli(['link', 'h9', 'down', '--id', id]);
      expect(r.code).toBe(1);
      expect(r.stderr).toMatch(/ERR_CONDIS_CLUSTER_NOT_FOUND/);
    });

    it('down stops the nodes and leaves no namespace, link, process or state; down again is fine', async () => {
      const state = readState(runDir, id)!;
      const pids = state.hosts.map((h) => h.pid!);
      const r = await cli(['down', '--id', id, '--json']);
      expect(r.code).toBe(0);
      const report = JSON.parse(r.stdout);
      expect(report.left).toEqual([]);
      expect(report.killed).toEqual([]); // the stand-ins exit on SIGTERM
      expect(nsOf(id)).toEqual([]);
      expect(pids.filter(alive)).toEqual([]);
      expect(processesMentioning(state.clusterDir)).toEqual([]);
      expect(fs.existsSync(state.stateFile)).toBe(false);
      expect(fs.existsSync(state.clusterDir)).toBe(false);
      // Every interface lived inside the namespaces: none is left in this one either.
      expect(fs.readdirSync('/sys/class/net').filter((n) => n.startsWith(id))).toEqual([]);
      const again = await cli(['down', '--id', id]);
      expect(again.code).toBe(0);
      expect(again.stdout).toMatch(/nothing to remove/);
    });
  });

  it('--no-nodes: the hosts, bridges and VXLANs without nodes or TAPs; down removes them', async () => {
    const id = idFor('b');
    const r = await cli(['up', '2', '--id', id, '--no-nodes', '--json']);
    expect(r.code).toBe(0);
    const state = JSON.parse(r.stdout);
    expect(state.nodeCommand).toBeNull();
    expect(nsOf(id).sort()).toEqual([`${id}-h1`, `${id}-h2`, `${id}-ul`]);
    const st = JSON.parse((await cli(['status', '--id', id, '--json'])).stdout);
    for (const h of st.hosts)
      expect(h).toMatchObject({ nodeRunning: false, tapOnBridge: false, underlayUp: true });
    expect((await cli(['down', '--id', id])).code).toBe(0);
    expect(nsOf(id)).toEqual([]);
  });

  it('down after an up that was SIGKILLed half-way: the state it wrote step by step finds everything', async () => {
    const id = idFor('k');
    const child = spawn(
      process.execPath,
      [
        '--import',
        'tsx',
        CLI,
        'cluster',
        'up',
        '2',
        '--id',
        id,
        '--run-dir',
        runDir,
        '--node-command',
        STANDIN,
      ],
      { env: { ...process.env, CC_STANDIN_HANG: '*' }, stdio: 'ignore' },
    );
    const exited = new Promise((resolve) => child.on('exit', resolve));
    let state: ClusterState | null = null;
    try {
      while (!state?.hosts.every((h) => h.pid !== null)) {
        if (child.exitCode !== null) throw new Error('up exited early');
        await new Promise((r) => setTimeout(r, 50));
        state = fs.existsSync(path.join(runDir, `cluster-${id}.json`)) ? readState(runDir, id) : null;
      }
    } finally {
      child.kill('SIGKILL');
      await exited;
    }
    expect(state.status).toBe('building');
    expect(nsOf(id)).toHaveLength(3);
    const pids = state.hosts.map((h) => h.pid!);
    expect(pids.every(alive)).toBe(true); // the nodes outlive a killed up (detached)
    const r = await cli(['down', '--id', id, '--json']);
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout).left).toEqual([]);
    expect(nsOf(id)).toEqual([]);
    expect(pids.filter(alive)).toEqual([]);
    expect(fs.existsSync(state.stateFile)).toBe(false);
  });

  it("down without a state file removes the namespaces that carry the cluster's names, and only those", async () => {
    const id = idFor('w');
    const other = `${id}x-h1`; // another cluster's name: not ours
    strays.push(other);
    for (const ns of [`${id}-ul`, `${id}-h1`, `${id}-h2`, other]) spawnSync('ip', ['netns', 'add', ns]);
    const r = await cli(['down', '--id', id]);
    expect(r.code).toBe(0);
    expect(nsOf(id)).toEqual([]);
    expect(listNamespaces()).toContain(other);
  });

  it('--node-args reach every node and survive a restart; restart refuses a live node, then brings a killed one back on the bridge', async () => {
    const id = idFor('r');
    const r = await cli(['up', '2', '--id', id, '--node-command', STANDIN, '--node-args=--keepalive-ms 300']);
    expect(r.code, r.stderr).toBe(0);
    const before = readState(runDir, id)!;
    expect(before.nodeExtraArgs).toEqual(['--keepalive-ms', '300']);
    const h2 = before.hosts[1]!;
    const cmdline = (pid: number) => fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
    expect(cmdline(h2.pid!)).toEqual(expect.arrayContaining(['--keepalive-ms', '300']));
    // Still running: refused, nothing changed.
    const refused = await cli(['restart', 'h2', '--id', id]);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toMatch(/ERR_CONDIS_CLUSTER_FAILED.*still runs/);
    process.kill(h2.pid!, 'SIGKILL');
    const deadline = Date.now() + 10_000;
    while (alive(h2.pid!) && Date.now() < deadline) await new Promise((res) => setTimeout(res, 20));
    const back = await cli(['restart', 'h2', '--id', id]);
    expect(back.code, back.stderr).toBe(0);
    const after = readState(runDir, id)!.hosts[1]!;
    expect(after.pid).not.toBe(h2.pid);
    expect(alive(after.pid!)).toBe(true);
    expect(cmdline(after.pid!)).toEqual(expect.arrayContaining(['--keepalive-ms', '300']));
    expect(ip(`${id}-h2`, ['-j', 'link', 'show', 'dev', 'tap0'])).toMatch(/"master":"br0"/);
    const down = await cli(['down', '--id', id]);
    expect(down.code).toBe(0);
    expect(nsOf(id)).toEqual([]);
  });

  describe('a failed up removes what it made, with a coded error', () => {
    it('N out of range: a usage error from the CLI, ERR_CONDIS_INVALID_ARG from the library; nothing made', async () => {
      const id = idFor('n');
      for (const n of ['1', '17', 'x']) {
        const r = await cli(['up', n, '--id', id, '--node-command', STANDIN]);
        expect(r.code).toBe(2);
        expect(r.stderr).toMatch(/from 2 to 16/);
      }
      await expect(clusterUp({ hosts: 17, id, runDir, nodeCommand: null })).rejects.toMatchObject({
        code: 'ERR_CONDIS_INVALID_ARG',
      });
      expect(nsOf(id)).toEqual([]);
      expect(fs.existsSync(path.join(runDir, `cluster-${id}.json`))).toBe(false);
    });

    it("a namespace of the cluster's names already there: ERR_CONDIS_CLUSTER_EXISTS, and it is not touched", async () => {
      const id = idFor('c');
      strays.push(`${id}-h2`);
      spawnSync('ip', ['netns', 'add', `${id}-h2`]);
      const r = await cli(['up', '3', '--id', id, '--node-command', STANDIN]);
      expect(r.code).toBe(1);
      expect(r.stderr).toMatch(/ERR_CONDIS_CLUSTER_EXISTS.*network namespace .*-h2 exists/);
      expect(nsOf(id)).toEqual([`${id}-h2`]);
      expect(fs.existsSync(path.join(runDir, `cluster-${id}.json`))).toBe(false);
    });

    it('a node that exits before its ready line: ERR_CONDIS_CLUSTER_FAILED, the other nodes stopped, all removed', async () => {
      const id = idFor('f');
      process.env.CC_STANDIN_FAIL = 'h2';
      try {
        const r = await cli(['up', '3', '--id', id, '--node-command', STANDIN]);
        expect(r.code).toBe(1);
        expect(r.stderr).toMatch(
          /ERR_CONDIS_CLUSTER_FAILED: h2: the node exited \(status 3\).*failing on purpose/,
        );
      } finally {
        delete process.env.CC_STANDIN_FAIL;
      }
      expect(nsOf(id)).toEqual([]);
      expect(processesMentioning(path.join(runDir, `cluster-${id}`))).toEqual([]);
      expect(fs.existsSync(path.join(runDir, `cluster-${id}.json`))).toBe(false);
    });

    it('nodes that never get ready: ERR_CONDIS_CLUSTER_FAILED after --ready-timeout, all removed', async () => {
      const id = idFor('t');
      process.env.CC_STANDIN_HANG = '*';
      try {
        const r = await cli(['up', '2', '--id', id, '--node-command', STANDIN, '--ready-timeout', '1']);
        expect(r.code).toBe(1);
        expect(r.stderr).toMatch(/ERR_CONDIS_CLUSTER_FAILED: no ready line from the node of h1, h2/);
      } finally {
        delete process.env.CC_STANDIN_HANG;
      }
      expect(nsOf(id)).toEqual([]);
      expect(processesMentioning(path.join(runDir, `cluster-${id}`))).toEqual([]);
    });

    it('SIGTERM during up: exit 143, everything made so far removed', async () => {
      const id = idFor('s');
      const child = spawn(
        process.execPath,
        [
          '--import',
          'tsx',
          CLI,
          'cluster',
          'up',
          '3',
          '--id',
          id,
          '--run-dir',
          runDir,
          '--node-command',
          STANDIN,
        ],
        { env: { ...process.env, CC_STANDIN_HANG: '*' }, stdio: ['ignore', 'pipe', 'pipe'] },
      );
      let err = '';
      child.stderr.on('data', (d) => {
        err += d;
      });
      const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
      try {
        // Interrupt once every node runs (they hang before their ready line).
        for (;;) {
          const s = fs.existsSync(path.join(runDir, `cluster-${id}.json`)) ? readState(runDir, id) : null;
          if (s?.hosts.every((h) => h.pid !== null)) break;
          if (child.exitCode !== null) throw new Error(`up exited early: ${err}`);
          await new Promise((r) => setTimeout(r, 50));
        }
        child.kill('SIGTERM');
        expect(await exited).toBe(143);
        expect(err).toMatch(/interrupted \(SIGTERM\)/);
      } finally {
        if (child.exitCode === null) child.kill('SIGKILL');
      }
      expect(nsOf(id)).toEqual([]);
      expect(processesMentioning(path.join(runDir, `cluster-${id}`))).toEqual([]);
      expect(fs.existsSync(path.join(runDir, `cluster-${id}.json`))).toBe(false);
    });
  });
});
