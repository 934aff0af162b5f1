/**
 * A benchmark measures healthy devices: a fault on any of them — a queue gone to NEEDS_RESET or
 * stopped by the driver side ('ringError'), the backend lost ('backendLost'), the I/O thread
 * stopped ('deviceFailed') — ends the run at once with that coded error, instead of leaving it to
 * wait for its quiet timeouts and report numbers that mean nothing. The CLI prints it as its
 * one-line error (`condis bench: ERR_CONDIS_...: ...`, exit 1).
 */
import type { Device } from '../device/device';
import type { CondisError } from '../errors';

const EVENTS = ['ringError', 'backendLost', 'deviceFailed'] as const;

export class FaultWatch {
  private first: CondisError | null = null;
  /** Called once, with the first fault, as it is reported. */
  onFault: ((err: CondisError) => void) | null = null;

  constructor(private readonly devices: readonly Device[]) {
    for (const d of devices) for (const ev of EVENTS) d.on(ev, this.record);
  }

  /** The first fault reported since the watch began, or null. */
  get fault(): CondisError | null {
    return this.first;
  }

  /** Throws the first fault, if there was one. */
  check(): void {
    if (this.first !== null) throw this.first;
  }

  /** Stops listening (the first fault, if any, stays readable). Idempotent. */
  dispose(): void {
    for (const d of this.devices) for (const ev of EVENTS) d.off(ev, this.record);
  }

  private readonly record = (err: CondisError): void => {
    if (this.first !== null) return;
    this.first = err;
    this.onFault?.(err);
  };
}
