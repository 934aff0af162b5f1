// The call manager and the MCM on two real TAPs joined by the kernel: tc mirred redirects what
// each device writes into its TAP out of the other TAP, both ways. Runs as root; mandatory under
// CI=true. (A TAP does not stall a sender the way the wire does, so the drains here wait on held
// receives; the sends-in-flight variant runs on the wire.)
import { afterEach, describe, expect, it } from 'vitest';
import type { Device } from '../../lib/device';
import { NDIS_STATUS_DEST_OUT_OF_ORDER, NDIS_STATUS_SUCCESS } from '../../lib/ndis';
import { ifName, mirred, openQuietTap, packetCapture, shQuiet } from '../helpers/host';
import { tapTestsEnabled } from '../helpers/privilege';
import { waitUntil } from '../helpers/wait';
import {
  type Endpoint,
  MAC_1,
  MAC_2,
  mcmEndpoint,
  params,
  RETRANSMIT_MS,
  standaloneEndpoint,
} from './harness';
import { carry, clientCloseWithHeldReceives, establish } from './scenarios';

const enabled = tapTestsEnabled('cm-tap');

let devices: Device[] = [];
let taps: string[] = [];
afterEach(() => {
  for (const d of devices) d.destroy();
  devices = [];
  for (const t of taps) shQuiet('ip', ['link', 'del', t]);
  taps = [];
});

/** Two TAPs, each redirected into the other by the kernel. */
function tapPair(): [Device, Device] {
  const n1 = ifName('ctx');
  let n2 = ifName('ctx');
  while (n2 === n1) n2 = ifName('ctx');
  taps.push(n1, n2);
  const a = openQuietTap({ name: n1, queuePairs: 4, queueSize: 32 });
  devices.push(a);
  const b = openQuietTap({ name: n2, queuePairs: 4, queueSize: 32 });
  devices.push(b);
  mirred(n1, n2);
  mirred(n2, n1);
  return [a, b];
}

type Make = (d: Device, mac: Uint8Array, peer?: Uint8Array) => Promise<Endpoint>;
const variants: Array<[string, Make]> = [
  ['stand-alone call manager', (d, mac, peer) => standaloneEndpoint(d, mac, peer ? { peerMac: peer } : {})],
  ['MCM', async (d, mac, peer) => mcmEndpoint(d, mac, peer ? { peerMac: peer } : {})],
];

describe.runIf(enabled).each(variants)('%s over two TAPs joined by tc mirred', (_name, make) => {
  it('calls both ways, frames with exact counts, closes from either side with a pended drain', async () => {
    const [a, b] = tapPair();
    const h1 = await make(a, MAC_1, MAC_2);
    const h2 = await make(b, MAC_2); // broadcast SETUP from this side
    const [c12, c21] = await Promise.all([establish(h1, h2, 100), establish(h2, h1, 200)]);
    await carry(h1, c12.out, c12.in, 20, 0);
    await carry(h2, c12.in, c12.out, 20, 100);
    await carry(h2, c21.out, c21.in, 20, 200);
    await carry(h1, c21.in, c21.out, 20, 300);
    // The caller of one call and the callee of the other each close, holding receives.
    await clientCloseWithHeldReceives(c12, 'caller', 8, 1000);
    await clientCloseWithHeldReceives(c21, 'callee', 8, 2000);
    expect(c12.out.closeStatus).toBe(NDIS_STATUS_SUCCESS);
    await waitUntil(() => h1.ndis.vcCount === h1.baseVcs && h2.ndis.vcCount === h2.baseVcs, 'VCs deleted');
    await h1.close();
    await h2.close();
  });
});

describe.runIf(enabled)('signalling on a TAP, seen by the host', () => {
  it.each([['stand-alone call manager'], ['MCM']] as const)(
    '%s: SETUP leaves the TAP untagged under ethertype 0x88B5',
    async (variant) => {
      const name = ifName('ctu');
      taps.push(name);
      const dev = openQuietTap({ name, queuePairs: 4, queueSize: 32 });
      devices.push(dev);
      const opts = { maxRetransmits: 0 };
      const ep =
        variant === 'MCM' ? mcmEndpoint(dev, MAC_1, opts) : await standaloneEndpoint(dev, MAC_1, opts);
      // The capture puts back any 802.1Q tag the kernel took off (PACKET_AUXDATA), so a tagged
      // frame would show 0x8100 at offset 12 and not match: what matches went out untagged.
      const cap = packetCapture(name, 0x88b5, 1);
      await cap.ready;
      const making = ep.client.makeCall(params(100));
      const got = await cap.done;
      expect(got).toHaveLength(1);
      const f = got[0]!;
      expect(f.slice(0, 12)).toBe('ffffffffffff'); // no peer MAC configured: broadcast SETUP
      expect(f.slice(24, 28)).toBe('88b5');
      ep.clock.advance(RETRANSMIT_MS); // T303 with no retransmission left: the call fails
      expect((await making).status).toBe(NDIS_STATUS_DEST_OUT_OF_ORDER);
      await ep.close();
    },
  );
});
