/**
 * The demo's peer: who pings the client in each phase (lib/scenarios/demo.ts), and how the
 * deactivation is made to start "under traffic" — with sends of the client in the miniport.
 * - tap: the Linux host in its namespace; the kernel's ping is the traffic. A TAP never stalls a
 *   writer, so the deactivation is called from the device interrupt in which the responder
 *   answered a request of a ping flood, in the same JS turn, while the reply is still on the
 *   transmit ring (its completion is harvested in a later interrupt).
 * - wire: endpoint B — its own NDIS, miniport, call manager and a pinging client (WirePinger) on
 *   the far device. B's client holds every reply it receives, so B's receive ring empties and, the
 *   wire being lossless, A's further replies stay on A's transmit ring; NdisCmDeactivateVc then
 *   finds exactly that many sends in flight, and B gives its buffers back in the next turn.
 * Every wait is on an event: ping's exit, or a count re-checked when the device interrupt or the
 * pinger that moves it signals (DemoRun.when), raced by a deadline.
 *
 * Layer: scenarios; drives lib/host (the host's ping) and lib/client (WirePinger) for demo.ts.
 */
import { WirePinger } from '../client/pinger';
import type { PingResponder } from '../client/responder';
import type { Device } from '../device/device';
import type { HostNamespace, InterfaceCounters, PingResult } from '../host/namespace';
import { MiniportAdapter } from '../miniport/adapter';
import { Ndis } from '../ndis/ndis';
import { NDIS_STATUS_SUCCESS, statusName } from '../ndis/status';
import type { DemoRun } from './demo-run';
import { CLIENT_IP, HOST_IP, HOST_MAC, VID } from './demo-topology';

/** Echo requests sent and answered in one phase. */
export interface PingCount {
  sent: number;
  answered: number;
}

/** The peer's side of each phase. */
export interface Peer {
  /** `n` pings, paced; resolves with the counts. */
  ping(n: number): Promise<PingCount>;
  /** Traffic during which `deactivate` is called with sends of the client in flight. */
  underTraffic(deactivate: () => void): Promise<PingCount>;
  /** `n` pings while the VC is inactive (none should be answered). */
  pingInactive(n: number): Promise<PingCount>;
  /** Frames the peer sent towards the client / received from it (kernel or miniport counters). */
  counts(): { sent: number; received: number };
  /** Orderly end of the peer's own drivers (wire); nothing on a TAP. */
  close(): Promise<void>;
}

/** TAP: replies the miniport must hold for the flood's deactivation to start. */
const IN_FLIGHT_TRIGGER = 1;

/** The Linux host in its namespace: the kernel's ping. */
export function tapPeer(
  ns: HostNamespace,
  tap: string,
  pings: number,
  responder: PingResponder,
  ndis: Ndis,
  setAfterInterrupt: (f: (() => void) | null) => void,
): Peer {
  const base = ns.counters(tap) ?? { rxPackets: 0, txPackets: 0, rxDropped: 0, txDropped: 0 };
  const count = (r: PingResult): PingCount => ({ sent: r.transmitted, answered: r.received });
  let last: InterfaceCounters = base;
  return {
    // -W: the wait after the last request; ping ends as soon as every reply is in.
    ping: async (k) => count(await ns.ping(CLIENT_IP, ['-q', '-c', String(k), '-i', '0.2', '-W', '5'])),
    underTraffic: async (deactivate) => {
      // A ping flood (16 requests of 1400 bytes outstanding); once 20 of it were answered, the VC
      // is deactivated from the first interrupt that leaves IN_FLIGHT_TRIGGER replies in flight.
      // The miniport harvests what the device finished meanwhile inside MiniportCoDeactivateVc:
      // if that was all, the deactivation completes at once; else it pends until the rest is
      // written to the TAP. The report says which.
      const echoes = responder.counters.echoReplies;
      let fired = false;
      const fire = () => {
        fired = true;
        setAfterInterrupt(null);
        deactivate();
      };
      setAfterInterrupt(() => {
        if (responder.counters.echoReplies - echoes < 20) return;
        if ((ndis.vcInfo(responder.vcHandle)?.txInMiniport ?? 0) >= IN_FLIGHT_TRIGGER) fire();
      });
      const flood = Math.max(200, pings * 40);
      const r = await ns.ping(CLIENT_IP, [
        '-q',
        '-c',
        String(flood),
        '-i',
        '0.002',
        '-l',
        '16',
        '-s',
        '1400',
        '-W',
        '1',
      ]);
      // Nothing was ever seen in flight (every reply completed inside its own interrupt): the
      // deactivation still happens, and the report shows 0 in flight.
      if (!fired) fire();
      return count(r);
    },
    pingInactive: async (k) =>
      count(await ns.ping(CLIENT_IP, ['-q', '-c', String(k), '-i', '0.2', '-W', '1'])),
    counts: () => {
      last = ns.counters(tap) ?? last;
      // The TAP's tx is what the kernel sent to the device; its rx what the device wrote.
      return { sent: last.txPackets - base.txPackets, received: last.rxPackets - base.rxPackets };
    },
    close: async () => {},
  };
}

/** Endpoint B on the wire: device, NDIS, miniport, call manager, pinging client. */
export async function wirePeer(
  run: DemoRun,
  dev: Device,
  aDev: Device,
  responder: PingResponder,
  aNdis: Ndis,
): Promise<Peer> {
  const ndis = new Ndis({ verifier: 'report', trace: false });
  const adapter = new MiniportAdapter(ndis, dev, { name: 'peer-miniport' });
  // B's interrupts move B's counts (the pinger signals those itself) and, on the lossless wire,
  // free or fill A's rings: both re-check the run's waiters.
  adapter.addInterruptHook(run.pokeSoon);
  const pinger = WirePinger.open(ndis, adapter.handle, {
    vid: VID,
    ip: HOST_IP,
    mac: HOST_MAC,
    target: CLIENT_IP,
  });
  pinger.onChange = run.poke;
  const st = await run.guard(pinger.start());
  if (st !== NDIS_STATUS_SUCCESS) throw new Error(`endpoint B: NdisClMakeCall: ${statusName(st)}`);
  const bVc = adapter.vcFor(pinger.vcHandle)!;
  /** One echo request at a time, like ping; each waits for its reply. */
  const paced = async (k: number): Promise<PingCount> => {
    if (!pinger.resolved) {
      pinger.arp();
      await run.guard(run.when(() => pinger.resolved, 'the ARP reply'));
    }
    const r0 = pinger.repliesReceived;
    for (let i = 0; i < k; i++) {
      pinger.echo(1);
      const want = r0 + i + 1;
      await run.guard(run.when(() => pinger.repliesReceived === want, 'an echo reply'));
    }
    return { sent: k, answered: pinger.repliesReceived - r0 };
  };
  return {
    ping: paced,
    underTraffic: async (deactivate) => {
      // B holds every reply: its receive ring runs dry and A's further replies stay in flight.
      const ring = bVc.pair!.rxPool.capacity;
      const burst = ring + 8;
      const r0 = pinger.repliesReceived;
      pinger.hold = true;
      pinger.echo(burst);
      await run.guard(
        run.when(
          () =>
            pinger.held.length === ring &&
            (aNdis.vcInfo(responder.vcHandle)?.txInMiniport ?? 0) === burst - ring &&
            responder.counters.echoReplies >= burst,
          "A's replies stalled on the wire",
        ),
      );
      deactivate();
      // B gives its buffers back in the next turn: the stalled replies go, the drain completes.
      await new Promise<void>((r) => setImmediate(r));
      pinger.hold = false;
      pinger.returnHeld();
      await run.guard(run.when(() => pinger.repliesReceived === r0 + burst, 'the stalled replies'));
      return { sent: burst, answered: pinger.repliesReceived - r0 };
    },
    pingInactive: async (k) => {
      // On the wire B's device delivers each frame into A's device (which drops it: no pair is
      // bound to VID 42) before it completes B's send; so once B's sends are back, A has counted
      // every drop, and no reply can come any more.
      const r0 = pinger.repliesReceived;
      const unbound = aDev.stats().rxUnboundVid;
      pinger.echo(k);
      await run.guard(
        run.when(
          () => pinger.completed === pinger.given && aDev.stats().rxUnboundVid - unbound >= k,
          "A's device dropping the requests",
        ),
      );
      return { sent: k, answered: pinger.repliesReceived - r0 };
    },
    counts: () => ({ sent: bVc.counters.txCompleted, received: pinger.framesIn }),
    close: async () => {
      await run.guard(run.when(() => pinger.completed === pinger.given, "B's sends"));
      await run.guard(pinger.close());
      await run.guard(adapter.halt());
    },
  };
}
