/**
 * The plan of `condis cluster up` (lib/cluster/plan.ts), no privilege needed: names and addresses
 * from the id and N, the three MACs of a host all different (a bridge would swallow frames for a
 * port's own address), the MTU arithmetic, and coded errors for a bad N, id or VNI.
 */
import { describe, expect, it } from 'vitest';
import {
  hostMac,
  MAX_HOSTS,
  OVERLAY_MTU,
  ownsNamespace,
  planCluster,
  UNDERLAY_MTU,
  UNDERLAY_MTU_NEEDED,
} from '../../lib/cluster/plan';

describe('cluster plan', () => {
  it('names every host, address, socket and file from the id and N', () => {
    const p = planCluster({ id: 'lab', hosts: 3, runDir: '/run/x' });
    expect(p.stateFile).toBe('/run/x/cluster-lab.json');
    expect(p.underlay).toEqual({ namespace: 'lab-ul', bridge: 'br0', subnet: '192.168.77.0/24', mtu: 1600 });
    expect(p.hosts.map((h) => [h.name, h.namespace, h.underlayIp, h.ip, h.control])).toEqual([
      ['h1', 'lab-h1', '192.168.77.1', '10.14.0.1/24', '/run/x/cluster-lab/h1.sock'],
      ['h2', 'lab-h2', '192.168.77.2', '10.14.0.2/24', '/run/x/cluster-lab/h2.sock'],
      ['h3', 'lab-h3', '192.168.77.3', '10.14.0.3/24', '/run/x/cluster-lab/h3.sock'],
    ]);
    expect(p.vni).toBe(14);
  });

  it("gives a host's node, TAP and bridge different locally administered unicast MACs", () => {
    const all = planCluster({ id: 'lab', hosts: MAX_HOSTS }).hosts.flatMap((h) => [
      h.mac,
      h.tapIfMac,
      h.bridgeMac,
    ]);
    expect(new Set(all).size).toBe(all.length);
    for (const m of all) expect(Number.parseInt(m.slice(0, 2), 16) & 0x03).toBe(0x02);
    expect(hostMac(16)).toBe('02:cc:00:00:00:10');
  });

  it('keeps a tagged 1500-byte VC frame inside the underlay MTU', () => {
    expect(UNDERLAY_MTU_NEEDED).toBe(1554);
    expect(UNDERLAY_MTU).toBeGreaterThanOrEqual(UNDERLAY_MTU_NEEDED);
    expect(OVERLAY_MTU).toBe(1500);
  });

  it('owns only its own namespace names', () => {
    expect(ownsNamespace('lab', 'lab-ul')).toBe(true);
    expect(ownsNamespace('lab', 'lab-h12')).toBe(true);
    expect(ownsNamespace('lab', 'lab2-h1')).toBe(false);
    expect(ownsNamespace('lab', 'lab-hx')).toBe(false);
  });

  it('refuses a bad N, id or VNI with ERR_CONDIS_INVALID_ARG', () => {
    for (const hosts of [0, 1, MAX_HOSTS + 1, 2.5]) {
      expect(() => planCluster({ id: 'lab', hosts })).toThrow(
        expect.objectContaining({ code: 'ERR_CONDIS_INVALID_ARG' }),
      );
    }
    for (const id of ['', 'Lab', '1ab', 'a-b', 'abcdefghijklm']) {
      expect(() => planCluster({ id, hosts: 2 })).toThrow(
        expect.objectContaining({ code: 'ERR_CONDIS_INVALID_ARG' }),
      );
    }
    for (const vni of [0, 0x1000000]) {
      expect(() => planCluster({ id: 'lab', hosts: 2, vni })).toThrow(
        expect.objectContaining({ code: 'ERR_CONDIS_INVALID_ARG' }),
      );
    }
  });
});
