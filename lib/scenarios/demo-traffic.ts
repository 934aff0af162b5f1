/**
 * The demo's release under traffic (lib/scenarios/demo.ts): A closes the call with RELEASE while
 * B has echo replies in flight, so B's call manager deactivates B's VC (on RELEASE, at once:
 * lib/cm/call-control.ts) with sends of B's in its miniport, and the deactivation pends until
 * they drained.
 *
 * How the sends are made to be in flight, on the lossless in-process wire: A's client holds every
 * frame its VC receives (NodeCall.held), A sends a burst of echo requests larger than its
 * receive ring, B answers every one; A's ring runs dry, so B's further replies wait on B's
 * transmit ring. Then A calls NdisClCloseCall (RELEASE goes out on the signalling VC, pair 0,
 * which is not stalled); once B's call manager has started its deactivation (B's client sees the
 * incoming close), A gives its buffers back: B's stalled replies reach A (whose VC stays active
 * until RELEASE COMPLETE; its NDIS hands them back, not to the client, whose call is closing),
 * B's drain completes, B's close completes and RELEASE COMPLETE goes
 * out, then A's own deactivation (the clearing side's, spec §3.2) and A's close complete.
 * Every wait is on an event (DemoRun.when, poked by the device interrupts and A's receive
 * listener), raced by a deadline.
 *
 * Layer: scenarios; drives lib/node's client for demo.ts.
 */
import { echoReplySeq, echoRequestFrame } from '../client/requests';
import type { NetBufferList } from '../ndis/nbl';
import { NDIS_STATUS_SUCCESS, type NdisStatus, statusName } from '../ndis/status';
import type { NodeCall } from '../node/client';
import type { CondisNode } from '../node/node';
import type { DemoRun } from './demo-run';

/** Echo requests sent and answered in one phase. */
export interface PingCount {
  sent: number;
  answered: number;
}

/**
 * The burst: its echo requests, the replies A's client received (those it held), and the replies
 * that reached A's NDIS only after A's NdisClCloseCall (B's stalled ones): NDIS hands those back
 * to the miniport without indicating them (the call is closing), as it must.
 */
export interface BurstCount extends PingCount {
  afterClose: number;
}

/** What the release under traffic saw. */
export interface ReleaseUnderTraffic {
  traffic: BurstCount;
  /** B's sends in its miniport / receives its client held when its deactivation started. */
  sendsInFlight: number;
  receivesHeld: number;
  /** The seq in B's trace from which its deactivation is looked for. */
  bFromSeq: number;
  /** The seq in A's trace from which its (clearing side's) deactivation is looked for. */
  aFromSeq: number;
  /** NdisClCloseCall at A: its completion status. */
  close: NdisStatus;
}

/** Echo requests beyond A's receive ring: B's replies to them are the ones in flight. */
const BEYOND_RING = 8;
/** ICMP identifier of the burst (the paced pings use their own). */
const BURST_ID = 0x4242;

function frames(chains: readonly NetBufferList[]): number {
  let n = 0;
  for (const head of chains) for (let p: NetBufferList | null = head; p; p = p.next) n++;
  return n;
}

export async function releaseUnderTraffic(
  run: DemoRun,
  a: CondisNode,
  aCall: NodeCall,
  b: CondisNode,
  bCall: NodeCall,
): Promise<ReleaseUnderTraffic> {
  const ring = a.adapter.vcFor(aCall.vc)?.pair?.rxPool.capacity ?? 0;
  if (ring === 0) throw new Error("release under traffic: A's VC has no queue pair");
  const burst = ring + BEYOND_RING;
  const peerIp = b.opts.ip;
  const replies = new Set<number>();
  const listener = (buf: Uint8Array, off: number, len: number) => {
    const seq = echoReplySeq(buf, off, len, BURST_ID, peerIp);
    if (seq >= 0) replies.add(seq);
    run.poke();
  };
  aCall.listeners.add(listener);
  try {
    const bAnswered0 = bCall.answerer?.counters.echoReplies ?? 0;
    const bAnswered = () => (bCall.answerer?.counters.echoReplies ?? 0) - bAnswered0;
    const bInFlight = () => b.ndis.vcInfo(bCall.vc)?.txInMiniport ?? 0;
    aCall.held = [];
    let sent = 0;
    for (let i = 1; i <= burst; i++)
      if (a.client.send(aCall, echoRequestFrame(aCall.peer, a.opts.mac, a.opts.ip, peerIp, BURST_ID, i)))
        sent++;
    // A's ring is full of held replies, B answered every request, and B's miniport has harvested
    // the completions of the replies the wire delivered: what it still has in flight is exactly
    // the replies beyond A's ring (until then the count includes delivered ones).
    await run.guard(
      run.when(
        () =>
          frames(aCall.held ?? []) === ring &&
          bAnswered() === sent &&
          bInFlight() === sent - ring &&
          aCall.ownInFlight.size === 0,
        "B's replies stalled on the wire",
      ),
    );
    const sendsInFlight = bInFlight();
    const receivesHeld = b.ndis.vcInfo(bCall.vc)?.rxHeld ?? 0;
    const aVc = a.adapter.vcFor(aCall.vc)!;
    const indicatedAtClose = aVc.counters.rxIndicated;
    const bFromSeq = (b.ndis.trace?.last()?.seq ?? -1) + 1;
    const aFromSeq = (a.ndis.trace?.last()?.seq ?? -1) + 1;
    // NdisClCloseCall: RELEASE goes out; the close completes after RELEASE COMPLETE and A's drain.
    const closing = a.client.close(aCall);
    // B's call manager dispatched the incoming close and started its deactivation in the same
    // turn; B's client marks the call closing then (its change is signalled a turn later).
    const released = await run.guard(bCall.until(() => bCall.phase !== 'connected', 15_000));
    if (!released) throw new Error('release under traffic: B never saw the RELEASE');
    a.client.returnHeld(aCall);
    const close = await run.guard(closing);
    if (close !== NDIS_STATUS_SUCCESS) throw new Error(`NdisClCloseCall: ${statusName(close)}`);
    return {
      traffic: { sent, answered: replies.size, afterClose: aVc.counters.rxIndicated - indicatedAtClose },
      sendsInFlight,
      receivesHeld,
      bFromSeq,
      aFromSeq,
      close,
    };
  } finally {
    aCall.listeners.delete(listener);
    a.client.returnHeld(aCall);
  }
}
