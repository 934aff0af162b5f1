// startNdisBridgeForwarder between two network namespaces: two TAPs (h13b...), each moved into a
// namespace of its own with 10.213.0.1/24 and 10.213.0.2/24; the kernel's `ping` crosses the
// condis NDIS bridge. Root only (mandatory under CI=true). Order that works: the TAPs are created
// and opened by name in the root namespace, then moved (the fd stays bound to the device).
import { afterAll, describe, expect, it } from 'vitest';
import { HostNamespace, sh } from '../../lib/host/namespace';
import {
  type NdisBridgeForwarder,
  startNdisBridgeForwarder,
} from '../../lib/scenarios/ndis-bridge-forwarder';
import { ifExists, shQuiet } from '../helpers/host';
import { tapTestsEnabled } from '../helpers/privilege';

const enabled = tapTestsEnabled('bridge-forwarder');
const tag = `${process.pid % 10000}`;
const taps = [`h13bA${tag}`, `h13bB${tag}`];
const nsNames = [`h13b-a-${tag}`, `h13b-b-${tag}`];
const spaces: HostNamespace[] = [];
let fwd: NdisBridgeForwarder | null = null;

afterAll(async () => {
  await fwd?.stop();
  for (const ns of spaces) ns.destroy();
  for (const t of taps) shQuiet('ip', ['link', 'del', t]);
});

describe.runIf(enabled)('startNdisBridgeForwarder between two namespaces (real TAPs)', () => {
  it('ping -c 3 crosses the NDIS bridge; stop() and cleanup leave nothing behind', async () => {
    for (const t of taps) sh('ip', ['tuntap', 'add', 'dev', t, 'mode', 'tap']);
    fwd = await startNdisBridgeForwarder({ tapA: taps[0]!, tapB: taps[1]!, offload: false });
    for (const [i, t] of taps.entries()) {
      const ns = HostNamespace.create(nsNames[i]!);
      spaces.push(ns);
      sh('ip', ['link', 'set', 'dev', t, 'netns', ns.name]);
      ns.exec('ip', ['addr', 'add', `10.213.0.${i + 1}/24`, 'dev', t]);
      ns.exec('ip', ['link', 'set', t, 'up']);
    }
    const r = await spaces[0]!.ping('10.213.0.2', ['-c', '3', '-i', '0.2', '-W', '2']);
    expect(r.received, r.output).toBe(3);
    const s = fwd.stats();
    expect(s.aToB.forwarded).toBeGreaterThanOrEqual(3);
    expect(s.bToA.forwarded).toBeGreaterThanOrEqual(3);
    // Two devices in one shared region: each frame is sent from the buffer it arrived in.
    expect(s.aToB.zeroCopy).toBe(s.aToB.forwarded);
    expect(s.bToA.zeroCopy).toBe(s.bToA.forwarded);
    expect(s.aToB.copied + s.bToA.copied).toBe(0);
    await fwd.stop();
    fwd = null;
    for (const ns of spaces) ns.destroy();
    for (const t of taps) shQuiet('ip', ['link', 'del', t]);
    const list = sh('ip', ['netns', 'list']);
    for (const n of nsNames) expect(list).not.toContain(n);
    for (const t of taps) expect(ifExists(t)).toBe(false);
  });
});
