// The README's "Prototyping a driver" example, run as written (on the wire backend), so the front
// door cannot rot.
import { describe, expect, it } from 'vitest';
import { FramePort, MiniportAdapter, Ndis, openWirePair, VcChannel } from '../../lib';
import { NDIS_STATUS_SUCCESS } from '../../lib/ndis';
import { frame } from '../helpers/frames';
import { waitUntil } from '../helpers/wait';

describe('README: prototyping a driver', () => {
  it('opens a VC, sends on it, receives on it, closes it', async () => {
    const [a, b] = openWirePair({ queuePairs: 4 });
    try {
      const ndis = new Ndis();
      const miniport = new MiniportAdapter(ndis, a, { name: 'nic0' });
      const vc = await VcChannel.open(ndis, miniport.handle, { vid: 42 });

      // The other end of the wire plays the network: pair 1 bound to VID 42.
      b.bindPair(1, 42);
      const peer = new FramePort(b, 1);
      b.onInterrupt = () => peer.poll();
      peer.postRx();

      expect(await vc.send(frame(100, 1))).toBe(NDIS_STATUS_SUCCESS);
      await waitUntil(() => peer.received === 1, 'the frame at the peer');

      peer.send(frame(80, 7));
      peer.flush();
      for await (const f of vc) {
        expect(f.length).toBe(80);
        break;
      }
      await vc.close();
    } finally {
      a.destroy();
      b.destroy();
    }
  });
});
