// The reference client answering the Linux kernel's own `ping` (iputils) over a real TAP on VC 42.
// Runs as root (mandatory under CI=true); the host side lives in a network namespace of its own
// (the TAP is moved into it), so 10.42.0.0/24 exists nowhere else and nothing else is pinged.
//
// Issue 4 point 5 asks for `ping` through the VLAN subinterface `tapX.42`. This kernel is built
// without CONFIG_VLAN_8021Q, so that test skips here; the test before it puts the same thing
// together without 802.1Q support: the address sits on the TAP itself and two eBPF programs
// attached with tcx (lib/host/vlan-tagger.py) push the tag VID 42 on every frame the kernel
// sends into the TAP and pop it from every frame of VID 42 the device writes — in the kernel's
// datapath, as the VLAN driver would. The kernel's ping, ARP and ICMP stack are the peer; nothing
// in userland relays or rewrites a frame.
import { execFile } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { promisify } from 'node:util';
import { afterEach, describe, expect, it } from 'vitest';
import { PingResponder } from '../../lib/client';
import { type Device, openTap } from '../../lib/device';
import { condisCallParameters, MiniportAdapter, type MiniportVc } from '../../lib/miniport';
import { NDIS_STATUS_SUCCESS, Ndis } from '../../lib/ndis';
import { ifName, sh, shQuiet } from '../helpers/host';
import { tapTestsEnabled } from '../helpers/privilege';
import { waitUntil } from '../helpers/wait';
import { CLIENT_IP, CLIENT_MAC, HOST_IP } from './packets';

const execFileP = promisify(execFile);
const VID = 42;
const TAGGER = path.join(__dirname, '../../lib/host/vlan-tagger.py');

/** Why the real ping cannot run here, or null. */
function pingMissing(): string | null {
  try {
    const v = sh('ping', ['-V']);
    return v.includes('iputils') ? null : `ping is not iputils' (${v.trim()})`;
  } catch {
    return 'no ping binary (Debian package iputils-ping)';
  }
}

function pingEnabled(): boolean {
  if (!tapTestsEnabled('client-tap-ping')) return false;
  const why = pingMissing();
  if (why === null) return true;
  if (process.env.CI === 'true') throw new Error(`client-tap-ping: mandatory in CI but cannot run: ${why}`);
  console.warn(`[skip] client-tap-ping: ${why}`);
  return false;
}

/** null if this kernel can create 802.1Q VLAN subinterfaces, else why not. */
function vlanUnsupported(): string | null {
  if (fs.existsSync('/proc/net/vlan')) return null;
  shQuiet('modprobe', ['-q', '8021q']);
  if (fs.existsSync('/proc/net/vlan')) return null;
  return 'kernel built without CONFIG_VLAN_8021Q (no /proc/net/vlan, no 8021q module): no VLAN subinterface possible';
}

const enabled = pingEnabled();

interface PingResult {
  transmitted: number;
  received: number;
  output: string;
}

/**
 * The kernel's ping inside `ns`, asynchronously: the responder runs on this process's event
 * loop, which a synchronous exec would block. ping exits 1 when replies are missing; the counts
 * are read from its summary either way.
 */
async function ping(ns: string, args: string[]): Promise<PingResult> {
  let output: string;
  try {
    output = (await execFileP('ip', ['netns', 'exec', ns, 'ping', ...args, CLIENT_IP])).stdout;
  } catch (e) {
    const err = e as { stdout?: string; stderr?: string; message: string };
    output = `${err.stdout ?? ''}${err.stderr ?? ''}`;
    if (!/packets transmitted/.test(output)) throw new Error(`ping failed: ${err.message}\n${output}`);
  }
  const m = /(\d+) packets transmitted, (\d+) received/.exec(output);
  if (!m) throw new Error(`no ping summary in:\n${output}`);
  return { transmitted: Number(m[1]), received: Number(m[2]), output };
}

let dev: Device | undefined;
let tap = '';
let ns = '';
let responder: PingResponder | undefined;
afterEach(async () => {
  await responder?.close().catch(() => {});
  responder = undefined;
  // Closing the TAP's file descriptor removes the interface, in whichever namespace it is.
  dev?.destroy();
  dev = undefined;
  if (tap) shQuiet('ip', ['link', 'del', tap]);
  tap = '';
  if (ns) shQuiet('ip', ['netns', 'del', ns]);
  ns = '';
});

type HostSide = 'tcx-tagger' | 'vlan-subinterface';

/**
 * A TAP with the miniport on it, moved into a fresh namespace where the host's end of VC 42 is
 * set up (10.42.0.1/24): on the TAP with the tcx tagger, or on the subinterface `<tap>.42`.
 * Returns the interface that carries the address.
 */
function openHost(side: HostSide): { ndis: Ndis; adapter: MiniportAdapter; hostIf: string } {
  tap = ifName('cpg');
  ns = `condis-ping-${process.pid}-${Math.floor(Math.random() * 1e6)}`;
  // Down until it is in the namespace: nothing of the host's own reaches the device first.
  dev = openTap({ name: tap, queuePairs: 2, queueSize: 64, up: false });
  const ndis = new Ndis({ verifier: 'throw' });
  const adapter = new MiniportAdapter(ndis, dev);
  sh('ip', ['netns', 'add', ns]);
  const inNs = (cmd: string, args: string[]) => sh('ip', ['netns', 'exec', ns, cmd, ...args]);
  // No IPv6 in the namespace: the kernel then sends no router solicitations or MLD reports, and
  // every frame on the VC is ARP or ICMP of the test. Set before the TAP arrives (it takes the
  // namespace's defaults). Written to /proc inside it: no procps needed.
  inNs('sh', ['-c', 'for k in all default; do echo 1 > /proc/sys/net/ipv6/conf/$k/disable_ipv6; done']);
  sh('ip', ['link', 'set', tap, 'netns', ns]);
  inNs('ip', ['link', 'set', tap, 'up']);
  let hostIf = tap;
  if (side === 'vlan-subinterface') {
    hostIf = `${tap}.${VID}`;
    inNs('ip', ['link', 'add', 'link', tap, 'name', hostIf, 'type', 'vlan', 'id', String(VID)]);
    inNs('ip', ['link', 'set', hostIf, 'up']);
  } else {
    inNs('python3', [TAGGER, tap, String(VID)]);
  }
  inNs('ip', ['addr', 'add', `${HOST_IP}/24`, 'dev', hostIf]);
  return { ndis, adapter, hostIf };
}

/**
 * The cycle of the issue: pings answered while the VC is active; none after deactivation, the
 * host's frames for the VID dropped and counted by the device; answered again after a new call
 * with new parameters; every frame, NBL and buffer accounted for at the end.
 */
async function pingCycle(side: HostSide): Promise<void> {
  const { adapter } = openHost(side);
  const device = dev!;
  const r = PingResponder.open(adapter.ndis, adapter.handle, { vid: VID, ip: CLIENT_IP, mac: CLIENT_MAC });
  responder = r;
  expect(await r.start()).toBe(NDIS_STATUS_SUCCESS);
  const vc: MiniportVc = adapter.vcFor(r.vcHandle)!;

  // -W is the wait after the last request; ping exits as soon as every reply is in, so a
  // generous value costs nothing when the replies come.
  const first = await ping(ns, ['-c', '5', '-i', '0.2', '-W', '5']);
  expect(first, first.output).toMatchObject({ transmitted: 5, received: 5 });
  expect(r.counters.echoReplies).toBe(5);
  expect(r.counters.arpReplies).toBeGreaterThanOrEqual(1);

  // Deactivation (the client closes its call; the call manager deactivates the VC).
  expect(await r.stop()).toBe(NDIS_STATUS_SUCCESS);
  expect(adapter.poolCounts().free).toBe(adapter.poolCounts().capacity);
  const framesIn = r.counters.framesIn;
  const unbound = device.stats().rxUnboundVid;
  const none = await ping(ns, ['-c', '3', '-i', '0.2', '-W', '1']);
  expect(none, none.output).toMatchObject({ transmitted: 3, received: 0 });
  // Each echo request reached the device and was dropped there: no queue pair carries VID 42.
  await waitUntil(() => device.stats().rxUnboundVid - unbound >= 3, "the host's frames dropped for VID 42");
  expect(r.counters.framesIn).toBe(framesIn);

  // Re-activation: a new call with new parameters (a fresh object, maxSduSize 1200); larger
  // requests (1000 bytes of data) show the frames are whole.
  const params = condisCallParameters(VID, { maxSduSize: 1200 });
  expect(await r.start(params)).toBe(NDIS_STATUS_SUCCESS);
  expect(vc.params).toBe(params);
  const again = await ping(ns, ['-c', '5', '-i', '0.2', '-W', '5', '-s', '1000']);
  expect(again, again.output).toMatchObject({ transmitted: 5, received: 5 });
  expect(r.counters.echoReplies).toBe(10);

  // Nothing lost across the cycle.
  await waitUntil(() => r.repliesInFlight === 0, 'replies completed');
  await r.close();
  responder = undefined;
  const c = r.counters;
  expect(c.droppedNoBuffer + c.droppedTooBig + c.droppedStopping).toBe(0);
  expect(c.repliesFailed).toBe(0);
  expect(c.repliesCompleted).toBe(c.answered);
  expect(vc.counters.rxIndicated).toBe(c.framesIn);
  expect(vc.counters.rxReturned).toBe(c.framesIn);
  expect(vc.counters.txNbls).toBe(c.answered);
  expect(vc.counters.txCompleted).toBe(c.answered);
  expect(r.replyBuffersFree).toBe(r.replyBufferCount);
  expect(adapter.poolCounts()).toEqual({
    free: adapter.poolCounts().capacity,
    capacity: adapter.poolCounts().capacity,
    freePairs: 1,
  });
  expect(adapter.ndis.vcCount).toBe(0);
}

describe.runIf(enabled)('PingResponder answering the kernel ping on VC 42 of a TAP', () => {
  it('through the TAP with VID 42 pushed and popped by tcx eBPF (no 802.1Q needed)', async () => {
    await pingCycle('tcx-tagger');
  });

  it('through the VLAN subinterface <tap>.42 (needs CONFIG_VLAN_8021Q)', async (ctx) => {
    const why = vlanUnsupported();
    if (why !== null) {
      console.warn(`[skip] client-tap-ping VLAN subinterface: ${why}`);
      ctx.skip(why);
    }
    await pingCycle('vlan-subinterface');
  });
});
