/**
 * Errors of condis-tap. The `code` is the stable public API; messages may change.
 *
 * - OS failures from the addon keep Node's SystemError shape: `code` is the errno name
 *   ('EPERM', 'EBUSY', 'ENOENT'), with `errno` (negative) and `syscall`, and a message that says
 *   what to do.
 * - The project's own failures use ERR_CONDIS_* codes (table in README.md, "Error codes").
 */
import { RingError, ringErrorName } from './virtio/layout';

export class CondisError extends Error {
  readonly code: string;
  errno?: number;
  syscall?: string;
  /** Extra facts: the queue, the VC, its state, counters... */
  readonly details: Record<string, unknown>;

  constructor(
    code: string,
    message: string,
    details: Record<string, unknown> = {},
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'CondisError';
    this.code = code;
    this.details = details;
  }
}

/** Every ERR_CONDIS_* code the device layers raise, with what it means. */
export const ErrorCodes = {
  ERR_CONDIS_INVALID_ARG: 'an option or argument is out of range or of the wrong type',
  ERR_CONDIS_NO_ADDON: 'the native addon is not built (npm run build:native)',
  ERR_CONDIS_BAD_REGION: 'the shared region header does not match the addon ABI',
  ERR_CONDIS_DEVICE_CLOSED: 'the device was closed',
  ERR_CONDIS_INVALID_STATE: 'the call is not allowed in the device state',
  ERR_CONDIS_VID_IN_USE: 'the VID is already bound to another queue pair',
  ERR_CONDIS_PAIR_IN_USE: 'the queue pair is bound to another VID',
  ERR_CONDIS_BACKEND_LOST: 'the TAP went away (deleted) or failed; every frame now fails',
  ERR_CONDIS_DEVICE_FAILED: 'the device I/O thread had to stop; every send now fails',
  ERR_CONDIS_RING_AVAIL_IDX_TOO_FAR: 'avail.idx ran more than the queue size ahead',
  ERR_CONDIS_RING_HEAD_OUT_OF_RANGE: 'avail.ring named a descriptor beyond the table',
  ERR_CONDIS_RING_NEXT_OUT_OF_RANGE: 'a descriptor chained to one beyond the table',
  ERR_CONDIS_RING_CHAIN_LOOP: 'a descriptor chain loops',
  ERR_CONDIS_RING_DESC_OUT_OF_POOL: 'a descriptor points outside the buffer pool',
  ERR_CONDIS_RING_WRITE_ONLY_IN_TX: 'a device-writable descriptor in a transmit chain',
  ERR_CONDIS_RING_READ_ONLY_IN_RX: 'a device-readable descriptor in a receive chain',
  ERR_CONDIS_RING_INDIRECT_UNSUPPORTED: 'an indirect descriptor (not negotiated)',
  ERR_CONDIS_RING_ZERO_LENGTH: 'a descriptor of length 0',
  ERR_CONDIS_RING_CHAIN_TOO_LONG: 'a chain with more segments or bytes than the device gathers',
  ERR_CONDIS_RING_USED_IDX_TOO_FAR: 'used.idx ran past what the driver made available (driver-detected)',
  ERR_CONDIS_RING_USED_ID_UNKNOWN:
    'a used id beyond the table or not the head of a chain the device was shown (driver-detected)',
  ERR_CONDIS_RING_USED_ID_REPEATED:
    'a used id the device had already returned and was not shown again (driver-detected)',
  ERR_CONDIS_RING_USED_LEN_TOO_LONG: "a used len past the receive chain's writable bytes (driver-detected)",
} as const;

/** 'ERR_CONDIS_RING_CHAIN_LOOP' for RingError.ChainLoop, from the shared RingError numbers. */
export function ringErrorCode(err: number): string {
  const name = ringErrorName(err); // e.g. 'ChainLoop'
  return `ERR_CONDIS_RING_${name.replace(/([a-z])([A-Z])/g, '$1_$2').toUpperCase()}`;
}

/** Wraps an Error thrown by the addon (plain Error with code/errno/syscall) into a CondisError. */
export function fromNative(e: unknown): Error {
  if (!(e instanceof Error)) return new CondisError('ERR_CONDIS_INTERNAL', String(e));
  const n = e as Error & { code?: string; errno?: number; syscall?: string };
  if (typeof n.code !== 'string') return e;
  const err = new CondisError(n.code, n.message, {}, { cause: e });
  if (typeof n.errno === 'number') err.errno = n.errno;
  if (typeof n.syscall === 'string') err.syscall = n.syscall;
  return err;
}

export { RingError };
