/**
 * Turns a harvest loop that would never end into a thrown error, so a regression fails the test
 * instead of blocking the runner's event loop forever: every harvest loop (FramePort.poll,
 * servicePair in lib/miniport/interrupt.ts) calls enableInterrupts once per round that found nothing, so the
 * guard counts those calls on the given queues and throws once there were more than `limit`.
 * A spinning loop reaches any limit within milliseconds; an honest test makes a few per poll.
 */
import type { DriverQueue } from '../../lib/virtio/driver-queue';

export interface SpinGuard {
  /** enableInterrupts calls counted so far. */
  readonly calls: number;
  /** Puts the queues' own method back. */
  restore(): void;
}

export function guardSpin(queues: readonly DriverQueue[], limit = 100_000): SpinGuard {
  let calls = 0;
  for (const q of queues) {
    const own = q.enableInterrupts;
    q.enableInterrupts = (delay?: number) => {
      if (++calls > limit) {
        throw new Error(
          `spin: enableInterrupts called ${calls} times (queue ${q.index} keeps reporting work)`,
        );
      }
      return own.call(q, delay);
    };
  }
  return {
    get calls() {
      return calls;
    },
    restore() {
      for (const q of queues) delete (q as { enableInterrupts?: unknown }).enableInterrupts;
    },
  };
}
