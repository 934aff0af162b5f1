// A VC on the wire is an 802.1Q VLAN: the device inserts the tag on transmit and strips it on
// receive, steering by VID. The kernel is the peer: AF_PACKET on the TAP sees and sends the
// tagged frames; where the kernel has 802.1Q (CONFIG_VLAN_8021Q) a VLAN subinterface does too.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Device, FramePort } from '../../lib/device';
import { ETH_EXPERIMENTAL, frame, seqOf, taggedHex } from '../helpers/frames';
import { ifName, openQuietTap, packetCapture, packetSend, quiet, sh, shQuiet } from '../helpers/host';
import { tapTestsEnabled } from '../helpers/privilege';
import { waitUntil } from '../helpers/wait';

const enabled = tapTestsEnabled('vlan');

function kernelHasVlan(parent: string): boolean {
  const probe = `${parent}.9`.slice(0, 15);
  try {
    sh('ip', ['link', 'add', 'link', parent, 'name', probe, 'type', 'vlan', 'id', '9']);
    shQuiet('ip', ['link', 'del', probe]);
    return true;
  } catch {
    return false;
  }
}

describe.runIf(enabled)('TAP: 802.1Q per queue pair, the kernel as peer', () => {
  const T = ifName('ctv');
  let d: Device;
  let p0: FramePort;
  let p1: FramePort;

  beforeAll(() => {
    d = openQuietTap({ name: T, queuePairs: 2 });
    d.bindPair(1, 42);
    p0 = new FramePort(d, 0);
    p1 = new FramePort(d, 1);
    d.onInterrupt = () => {
      p0.poll();
      p1.poll();
    };
    p0.postRx();
    p1.postRx();
  });

  afterAll(async () => {
    await d?.close();
    shQuiet('ip', ['link', 'del', T]);
  });

  it('frames sent on a bound pair reach the kernel tagged with its VID', async () => {
    const cap = packetCapture(T, 0x8100, 40);
    await cap.ready;
    for (let i = 0; i < 40; i++) p1.send(frame(90, 100 + i));
    p1.flush();
    const got = await cap.done;
    expect(got.length).toBe(40);
    // dst(12) src(12) | 8100 | TCI: VID 42 | 88b5 | seq
    expect(got.every((h) => (Number.parseInt(h.slice(28, 32), 16) & 0xfff) === 42)).toBe(true);
    expect(got.every((h) => h.slice(32, 36) === '88b5')).toBe(true);
    expect(got.map((h) => Number.parseInt(h.slice(36, 44), 16))).toEqual(
      Array.from({ length: 40 }, (_, i) => 100 + i),
    );
    expect(got.every((h) => h.length === 2 * 94)).toBe(true);
  });

  it('frames sent on pair 0 leave untagged', async () => {
    const cap = packetCapture(T, ETH_EXPERIMENTAL, 10);
    await cap.ready;
    for (let i = 0; i < 10; i++) p0.send(frame(60, i));
    p0.flush();
    expect((await cap.done).length).toBe(10);
  });

  it('tagged frames from the kernel reach the bound pair with the tag stripped', async () => {
    const seen: number[] = [];
    p1.onFrame = (bytes, off, len) => {
      if (len === 70 && bytes[off + 12] === 0x88 && bytes[off + 13] === 0xb5) seen.push(seqOf(bytes, off));
    };
    let onPair0 = 0;
    p0.onFrame = (bytes, off) => {
      if (bytes[off + 12] === 0x81) onPair0++;
    };
    packetSend(T, taggedHex(70, 555, 42), 25);
    await waitUntil(() => seen.length === 25, '25 frames on pair 1');
    expect(seen.every((s) => s === 555)).toBe(true);
    expect(onPair0).toBe(0);
  });

  it('frames for an unbound VID are dropped and counted', async () => {
    const before = d.stats().rxUnboundVid;
    packetSend(T, taggedHex(70, 1, 43), 12);
    await waitUntil(() => d.stats().rxUnboundVid - before === 12, 'unbound-VID drops');
  });

  it('after unbinding, the pair is silent and its VID is dropped', async () => {
    d.unbindPair(1);
    const before = d.stats().rxUnboundVid;
    const got = p1.received;
    packetSend(T, taggedHex(70, 2, 42), 5);
    await waitUntil(() => d.stats().rxUnboundVid - before === 5, 'drops after unbind');
    expect(p1.received).toBe(got);
    d.bindPair(1, 42);
  });

  it('a VLAN subinterface of the TAP exchanges frames with the bound pair', async (ctx) => {
    if (!kernelHasVlan(T)) {
      console.warn('[skip] vlan subinterface: this kernel was built without CONFIG_VLAN_8021Q');
      ctx.skip();
    }
    const V = `${T}.42`.slice(0, 15);
    sh('ip', ['link', 'add', 'link', T, 'name', V, 'type', 'vlan', 'id', '42']);
    expect(quiet(V)).toBe(true); // before it goes up: no MLD of its own on VID 42
    sh('ip', ['link', 'set', V, 'up']);
    const cap = packetCapture(V, ETH_EXPERIMENTAL, 20);
    await cap.ready;
    for (let i = 0; i < 20; i++) p1.send(frame(80, 300 + i));
    p1.flush();
    expect((await cap.done).length).toBe(20);
    let seen = 0;
    p1.onFrame = (bytes, off) => {
      if (seqOf(bytes, off) === 777) seen++;
    };
    packetSend(V, Buffer.from(frame(80, 777)).toString('hex'), 20);
    await waitUntil(() => seen === 20, 'frames from the VLAN subinterface');
  });
});
