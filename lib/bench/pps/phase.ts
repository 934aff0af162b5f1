/**
 * One phase of the pps benchmark on two open devices: send N frames from one FramePort, count
 * those that arrive on the other. Shared by `condis bench pps` and `npm run bench:pps`.
 */
import type { Device } from '../../device/device';
import type { FramePort } from '../../device/port';
import type { CondisError } from '../../errors';
import { FaultWatch } from '../faults';

const QUIET_MS = 1000; // the receiver gives up after this long without one of our frames (as cref)
const STALL_MS = 100; // a window that has not moved for this long is assumed lost (as cref)
const WATCHDOG_MS = 10; // timeouts only: the data path runs from the interrupt callbacks

/** Frame: dst 02:63:74:62:00:02, src ..:01, ethertype 0x88B5, "CDIS", run id (u32 LE), pattern. */
export function makeFrame(size: number, runId: number): Uint8Array {
  const f = new Uint8Array(size);
  f.set([0x02, 0x63, 0x74, 0x62, 0x00, 0x02, 0x02, 0x63, 0x74, 0x62, 0x00, 0x01, 0x88, 0xb5]);
  f.set([0x43, 0x44, 0x49, 0x53], 14); // "CDIS" (cref's frames say "CTBR")
  new DataView(f.buffer).setUint32(18, runId >>> 0, true);
  for (let i = 22; i < size; i++) f[i] = (i * 7 + 1) & 0xff;
  return f;
}

export interface PhaseResult {
  frames: number;
  txDone: number;
  txFailed: number;
  received: number;
  foreign: number;
  lost: number;
  txPps: number;
  rxPps: number;
  seconds: number;
  stalls: number;
  quietTimeout: boolean;
  interrupts: { tx: number; rx: number };
}

/**
 * Sends `n` frames of `size` bytes from `tx` to `rx` and counts those that arrive. Sending is
 * driven from both devices' interrupt callbacks (a transmit completion frees buffers, a receive
 * opens the window); a 10 ms watchdog only handles stalls and the quiet period. Per frame: no
 * allocation (sendRepeated copies nothing once every buffer carries the template).
 *
 *   txPps = frames sent successfully / (first send .. last transmit completion harvested)
 *   rxPps = frames received / (first send .. last receive harvested)
 *   lost  = n - received, after QUIET_MS without a frame
 *
 * A fault on either device (FaultWatch: a ring error, the backend lost, the device failed) rejects
 * at once with its coded error. `faults`: a watch the caller keeps over several phases (so a
 * fault between them is not missed); by default the phase watches on its own.
 */
export function runPhase(
  txDev: Device,
  rxDev: Device,
  tx: FramePort,
  rx: FramePort,
  n: number,
  size: number,
  window: number,
  runId: number,
  verify: boolean,
  interrupted: () => boolean = () => false,
  faults?: FaultWatch,
): Promise<PhaseResult> {
  return new Promise((resolve, reject) => {
    const watch = faults ?? new FaultWatch([txDev, rxDev]);
    const tpl = makeFrame(size, runId);
    const id0 = runId & 0xff;
    const id1 = (runId >>> 8) & 0xff;
    const id2 = (runId >>> 16) & 0xff;
    const id3 = (runId >>> 24) & 0xff;
    const sentBase = tx.sent;
    const doneBase = tx.txDone;
    const failBase = tx.txFailed;
    let ours = 0;
    let foreign = 0;
    let forgiven = 0;
    let stalls = 0;
    let seenOurs = 0;
    let t0 = 0;
    let tTxEnd = 0;
    let tLastRx = 0;
    let lastProgress = 0;
    let lastForgive = 0;
    let finished = false;
    let irqTx = 0;
    let irqRx = 0;

    const recvBase = rx.received;
    // verify: look at every frame (ours = right size, ethertype and run id; the rest is foreign),
    // for a TAP, where the kernel could slip something in. Else count what the port received.
    rx.onFrame = !verify
      ? null
      : (b, off, len) => {
          if (
            len === size &&
            b[off + 12] === 0x88 &&
            b[off + 13] === 0xb5 &&
            b[off + 18] === id0 &&
            b[off + 19] === id1 &&
            b[off + 20] === id2 &&
            b[off + 21] === id3
          ) {
            ours++;
          } else {
            foreign++;
          }
        };

    // Frames we may still queue: what is left of n, bounded by the window (frames in flight).
    const room = (): number => {
      const queued = tx.sent - sentBase;
      let r = n - queued;
      if (window > 0) {
        const ahead = queued - (tx.txFailed - failBase) - ours - forgiven;
        if (window - ahead < r) r = window - ahead;
      }
      return r;
    };
    const send = (): void => {
      const r = room();
      if (r > 0 && tx.sendRepeated(tpl, r) > 0) tx.flush();
    };
    const step = (): void => {
      if (finished) return;
      if (!verify) ours = rx.received - recvBase;
      if (ours !== seenOurs) {
        seenOurs = ours;
        tLastRx = performance.now();
        lastProgress = tLastRx;
      }
      if (tTxEnd === 0 && tx.txDone + tx.txFailed - doneBase - failBase >= n) tTxEnd = performance.now();
      if (ours >= n && tTxEnd !== 0) finish();
      else send();
    };
    /** Ends the phase: the devices' interrupts back to plain polling, the watch let go. */
    const stop = (): void => {
      finished = true;
      clearInterval(timer);
      rx.onFrame = null;
      txDev.onInterrupt = () => tx.poll();
      rxDev.onInterrupt = () => rx.poll();
      watch.onFault = null;
      if (!faults) watch.dispose();
    };
    const fail = (err: CondisError): void => {
      if (finished) return;
      stop();
      reject(err);
    };
    const finish = (): void => {
      stop();
      const tEnd = performance.now();
      const txOk = tx.txDone - doneBase;
      const txSecs = ((tTxEnd || tEnd) - t0) / 1000;
      const rxSecs = (tLastRx - t0) / 1000;
      resolve({
        frames: n,
        txDone: txOk,
        txFailed: tx.txFailed - failBase,
        received: ours,
        foreign,
        lost: n - ours,
        txPps: txSecs > 0 ? txOk / txSecs : 0,
        rxPps: ours > 0 && rxSecs > 0 ? ours / rxSecs : 0,
        seconds: ours > 0 ? rxSecs : txSecs,
        stalls,
        quietTimeout: ours < n,
        interrupts: { tx: irqTx, rx: irqRx },
      });
    };

    txDev.onInterrupt = () => {
      irqTx++;
      tx.poll();
      step();
    };
    rxDev.onInterrupt = () => {
      irqRx++;
      rx.poll();
      // A receive opens the window; harvest transmit completions too, so the send below has
      // buffers (as a NIC driver frees finished transmits in its xmit path).
      tx.poll();
      step();
    };
    const timer = setInterval(() => {
      if (finished) return;
      // Safety net only: an interrupt normally does all of this.
      tx.poll();
      rx.poll();
      step();
      if (finished) return;
      const now = performance.now();
      if (interrupted() || now - lastProgress > QUIET_MS) {
        finish();
        return;
      }
      if (
        window > 0 &&
        now - lastProgress > STALL_MS &&
        now - lastForgive > STALL_MS &&
        room() <= 0 &&
        tx.sent - sentBase < n
      ) {
        // The window has not moved: assume the frames in flight were lost and open it again.
        forgiven += tx.sent - sentBase - (tx.txFailed - failBase) - ours - forgiven;
        stalls++;
        lastForgive = now;
        send();
      }
    }, WATCHDOG_MS);

    if (watch.fault !== null) {
      fail(watch.fault);
      return;
    }
    watch.onFault = fail;
    t0 = performance.now();
    lastProgress = t0;
    send();
  });
}
