/**
 * Delivery: how completions reach drivers. Every completion NDIS hands to a driver
 * (ProtocolCoSendNetBufferListsComplete, ProtocolCmActivateVcComplete, ProtocolClMakeCallComplete,
 * a receive NDIS gives straight back through MiniportReturnNetBufferLists...) runs from a task of
 * the injected Scheduler, in FIFO order, never inside the call that caused it (spec §1.2
 * conventions, §8). One flat queue, one scheduled flush per batch, and catch-up: before NDIS takes
 * a new activation, deactivation or deletion of a VC it delivers what it has queued for it, so no
 * request overtakes the completion of the previous one (spec §2.5 I4).
 *
 * Sits under the concern modules (vc-lifecycle, calls, data-path queue into it) and above
 * registry.ts; it knows nothing of requests or tables.
 */
import { NblOwner, type NetBufferList } from './nbl';
import { partyOf, traceEvent, type VcRec } from './registry';
import type { Scheduler } from './scheduler';
import type { Trace } from './trace';

/** Queue entry kinds (flat array: kind, target, a, b). */
const Q_FN = 0;
const Q_SEND_COMPLETE = 1;
const Q_RETURN_TO_MINIPORT = 2;

export class DeliveryQueue {
  /** Deliveries to drivers, FIFO, flat: [kind, target, a, b]*. */
  private readonly queue: unknown[] = [];
  private head = 0;
  private scheduled = false;
  private readonly flushBound = () => this.flush();

  constructor(
    private readonly scheduler: Scheduler,
    private readonly trace: Trace | undefined,
  ) {}

  /** Deliveries queued and not yet run. */
  get pending(): number {
    return (this.queue.length - this.head) / 4;
  }

  /** Queue `fn` for a later turn; `vc` names the VC it completes something on, if any. */
  deliver(fn: () => void, vc?: VcRec): void {
    this.enqueue(Q_FN, fn, vc ?? null, 0);
  }

  /** Hand `nbls` back to the VC's sender through ProtocolCoSendNetBufferListsComplete. Hot path. */
  sendComplete(vc: VcRec, nbls: NetBufferList, flags: number): void {
    this.enqueue(Q_SEND_COMPLETE, vc, nbls, flags);
  }

  /** Give undelivered receives back through MiniportReturnNetBufferLists. */
  returnToMiniport(vc: VcRec, nbls: NetBufferList): void {
    this.enqueue(Q_RETURN_TO_MINIPORT, vc, nbls, 0);
  }

  /**
   * Real NDIS completes inside the call that finishes a request (ProtocolCmDeactivateVcComplete
   * inside the drain's last NdisMCoSendNetBufferListsComplete, ProtocolClCloseCallComplete inside
   * Ndis(M)CmCloseCallComplete); this one delivers completions in a later turn, so a VC's state can
   * run ahead of what its drivers have heard. Before NDIS takes a new activation, deactivation or
   * deletion of the VC it delivers what it has queued for it (and, to keep FIFO order, everything
   * queued before): no request overtakes a completion of the previous one (spec §2.5 I4), and no
   * completion reaches a driver for a VC after its deletion.
   */
  catchUp(vc: VcRec): void {
    if (vc.queued > 0) this.flush();
  }

  private enqueue(kind: number, target: unknown, a: unknown, b: number): void {
    const vc = (kind === Q_FN ? a : target) as VcRec | null;
    if (vc) vc.queued++;
    this.queue.push(kind, target, a, b);
    if (!this.scheduled) {
      this.scheduled = true;
      this.scheduler.schedule(this.flushBound);
    }
  }

  /** Run queued deliveries in FIFO order, including those they queue. */
  private flush(): void {
    const q = this.queue;
    try {
      while (this.head < q.length) {
        const i = this.head;
        this.head += 4;
        const kind = q[i] as number;
        const target = q[i + 1];
        const a = q[i + 2];
        // Cleared before the call: a delivery may flush the queue itself (catchUp), which empties it.
        q[i + 1] = q[i + 2] = undefined;
        const vc = (kind === Q_FN ? a : target) as VcRec | null;
        if (vc) vc.queued--;
        if (kind === Q_FN) (target as () => void)();
        else if (kind === Q_SEND_COMPLETE)
          this.deliverSendComplete(target as VcRec, a as NetBufferList, q[i + 3] as number);
        else this.deliverReturnToMiniport(target as VcRec, a as NetBufferList);
      }
    } finally {
      if (this.head >= q.length) {
        q.length = 0;
        this.head = 0;
        this.scheduled = false;
      } else {
        this.scheduler.schedule(this.flushBound); // a handler threw: keep going next turn
      }
    }
  }

  private deliverSendComplete(vc: VcRec, nbls: NetBufferList, flags: number): void {
    const role = vc.dataRole;
    const b = vc.dataBinding;
    if (this.trace)
      traceEvent(
        this.trace,
        'deliver',
        'NDIS',
        partyOf(vc, role),
        'ProtocolCoSendNetBufferListsComplete',
        vc,
      );
    b.protocol.handlers.coSendNetBufferListsComplete(vc.ctx[role], nbls, flags);
  }

  private deliverReturnToMiniport(vc: VcRec, nbls: NetBufferList): void {
    let n = 0;
    for (let p: NetBufferList | null = nbls; p; p = p.next) {
      p.ndisOwner = NblOwner.Owner;
      n++;
    }
    vc.drain.releaseRxDeferred(n);
    const mp = vc.miniport;
    if (this.trace)
      traceEvent(
        this.trace,
        'handler',
        'NDIS',
        partyOf(vc, 'miniport'),
        'MiniportReturnNetBufferLists',
        vc,
        undefined,
        `n=${n} dropped`,
      );
    try {
      mp.handlers.returnNetBufferLists(mp.adapterContext, nbls, 0);
    } finally {
      vc.drain.poll();
    }
  }
}
