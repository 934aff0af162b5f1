/**
 * Errors of condis-tap: the one CondisError class and the one registry of codes (ErrorCodes), for
 * every layer (lib/ndis up to native/). The `code` is the stable public API; messages may change.
 *
 * - OS failures from the addon keep Node's SystemError shape: `code` is the errno name
 *   ('EPERM', 'EBUSY', 'ENOENT'), with `errno` (negative) and `syscall`, and a message that says
 *   what to do.
 * - The project's own failures use ERR_CONDIS_* codes, every one listed in ErrorCodes below and in
 *   README.md ("Error codes"). The native side spells its codes in native/error_codes.h; a test
 *   (test/unit/error-codes.test.ts) scans lib/, bin/ and native/ and fails on a code raised that
 *   is missing here or in the README, and on a code listed here that nothing raises.
 * - Aborts are not ours: they reject with Node's AbortError (`code: 'ABORT_ERR'`).
 */
import { RingError, ringErrorName } from './virtio/layout';

/** What a verifier message says about the VC involved (lib/ndis; carried by {@link CondisError.vc}). */
export interface VcSnapshot {
  readonly handle: number;
  readonly slot: number;
  readonly activation: string;
  readonly call: string;
  readonly txInMiniport: number;
  readonly rxHeld: number;
  readonly stopping: boolean;
}

/**
 * The error every layer raises with a project code (ERR_CONDIS_*) or an OS one (an errno name,
 * from {@link fromNative}). `details` holds the facts (queue, VID, the VC's snapshot...).
 */
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

  /**
   * The VC the error is about, when the NDIS runtime raised it (`details.vc`). A getter, not a
   * field: the snapshot lives once, in details, and errors without a VC carry no extra property.
   */
  get vc(): VcSnapshot | undefined {
    return this.details.vc as VcSnapshot | undefined;
  }
}

/**
 * Every ERR_CONDIS_* code any layer raises (TypeScript and native), with what it means and what to
 * do: the public API (undici's habit: codes are stable, messages may change). The README's "Error
 * codes" table lists the same codes; test/unit/error-codes.test.ts keeps the three in step.
 */
export const ErrorCodes = {
  // Arguments, addon, device (lib/device, lib/virtio, native/).
  ERR_CONDIS_INVALID_ARG: 'an option or argument is out of range or of the wrong type; the message names it',
  ERR_CONDIS_NO_ADDON: 'the native addon could not be loaded; the message says how to build or install it',
  ERR_CONDIS_BAD_REGION:
    'the shared region header does not match the addon ABI; rebuild the addon and dist/ together',
  ERR_CONDIS_DEVICE_CLOSED: 'the device was closed; open a new one',
  ERR_CONDIS_INVALID_STATE:
    'the call is not allowed in the device state; the message says which state it needs',
  ERR_CONDIS_VID_IN_USE: 'the VID is already bound to another queue pair; unbind it or pick another VID',
  ERR_CONDIS_PAIR_IN_USE: 'the queue pair is bound to another VID; unbind it or pick another pair',
  ERR_CONDIS_BACKEND_LOST:
    'the TAP went away (deleted) or failed; every frame now fails, so close the device',
  ERR_CONDIS_DEVICE_FAILED:
    'the device I/O thread had to stop (`syscall` and `errno` say why); every send now fails, so close the device',
  ERR_CONDIS_URING_LAYOUT:
    'the kernel io_uring rings have a layout the addon does not expect; open the device with `uring: false`',
  ERR_CONDIS_INTERNAL:
    'a fault inside condis-tap (a bug), not a refusal; report it with the message and stack',
  // VcChannel (lib/vc).
  ERR_CONDIS_NO_FREE_PAIR:
    'no free queue pair on the miniport for another VC; close a VC or open more queue pairs',
  ERR_CONDIS_CHANNEL_CLOSED: 'the channel (or VC) was closed; nothing more is sent or received on it',
  ERR_CONDIS_CALL_FAILED: 'the call could not be made or activated; `status` names the NDIS_STATUS',
  // condis node (lib/node).
  ERR_CONDIS_NO_SUCH_CALL:
    'a node control request names a call the node does not have (closed, or never made)',
  // Benchmarks and warmUp() (lib/scenarios, lib/bench).
  ERR_CONDIS_BENCH_FAILED:
    'a benchmark or warmUp() could not run a step of its own (its rig, its helper process, a step that timed out); the message says which',
  // Hosts on this machine (lib/cluster, `condis cluster`).
  ERR_CONDIS_CLUSTER_EXISTS:
    'a cluster with that id, or a network namespace with one of its names, exists already; `condis cluster down --id ID` or pick another --id',
  ERR_CONDIS_CLUSTER_FAILED:
    'a step of `condis cluster up` failed or was interrupted (the message says which: an ip command, a node that exited or never printed its ready line); everything it made was removed',
  ERR_CONDIS_HOST_COMMAND:
    'a command run on the Linux host (ip, bridge, tc, ping) failed; the message has the command and its stderr',
  // The main job (lib/scenarios/demo*.ts, `condis demo`).
  ERR_CONDIS_DEMO_FAILED:
    'a step of `condis demo` did not happen in time (a call that never connected or ended on a node), or its cleanup left something behind; the message says which',
  ERR_CONDIS_CLUSTER_NOT_FOUND:
    'no such cluster or host (no state file, or an unknown host name); `condis cluster status` lists them',
  // Queues that went to NEEDS_RESET (a ringError; one code per shared RingError number, native/virtq.h).
  ERR_CONDIS_RING_AVAIL_IDX_TOO_FAR: 'avail.idx ran more than the queue size ahead; reset the queue',
  ERR_CONDIS_RING_HEAD_OUT_OF_RANGE: 'avail.ring named a descriptor beyond the table; reset the queue',
  ERR_CONDIS_RING_NEXT_OUT_OF_RANGE: 'a descriptor chained to one beyond the table; reset the queue',
  ERR_CONDIS_RING_CHAIN_LOOP: 'a descriptor chain loops; reset the queue',
  ERR_CONDIS_RING_DESC_OUT_OF_POOL: 'a descriptor points outside the buffer pool; reset the queue',
  ERR_CONDIS_RING_WRITE_ONLY_IN_TX: 'a device-writable descriptor in a transmit chain; reset the queue',
  ERR_CONDIS_RING_READ_ONLY_IN_RX: 'a device-readable descriptor in a receive chain; reset the queue',
  ERR_CONDIS_RING_INDIRECT_UNSUPPORTED: 'an indirect descriptor (not negotiated); reset the queue',
  ERR_CONDIS_RING_ZERO_LENGTH: 'a descriptor of length 0; reset the queue',
  ERR_CONDIS_RING_CHAIN_TOO_LONG:
    'a chain with more segments or bytes than the device gathers; reset the queue',
  ERR_CONDIS_RING_BAD_VNET_HDR:
    "a transmit frame's virtio_net_hdr asks for an offload that was not negotiated or names offsets outside the frame (detail: the VnetHdrFault); reset the queue",
  // The driver side's checks of the device's used ring (lib/virtio/driver-queue.ts).
  ERR_CONDIS_RING_USED_IDX_TOO_FAR:
    'used.idx ran past what the driver made available (driver-detected); reset the queue',
  ERR_CONDIS_RING_USED_ID_UNKNOWN:
    'a used id beyond the table or not the head of a chain the device was shown (driver-detected); reset the queue',
  ERR_CONDIS_RING_USED_ID_REPEATED:
    'a used id the device had already returned and was not shown again (driver-detected); reset the queue',
  ERR_CONDIS_RING_USED_LEN_TOO_LONG:
    "a used len past the receive chain's writable bytes (driver-detected); reset the queue",
  // The NDIS runtime (lib/ndis): calls outside the contract that are not one §6 rule.
  ERR_CONDIS_BAD_TRANSITION:
    'an event with no entry in the VC/call transition tables (spec §2.2/§2.5); fix the call order',
  ERR_CONDIS_OFFLOAD_NOT_ADVERTISED:
    "the verifier: a send asks for LSO (MSS != 0) or a checksum offload that its VC's miniport did not advertise (NDIS_OFFLOAD) or a protocol disabled with OID_TCP_OFFLOAD_PARAMETERS; compute it in software or check the offload first",
  ERR_CONDIS_WRONG_CALLER:
    'a driver made a call it may not make (such as a client calling an NdisCm function)',
  ERR_CONDIS_WRONG_VARIANT:
    'an NdisCm* call on an MCM VC or an NdisMCm* call elsewhere (spec §5 C4); use the other variant',
  ERR_CONDIS_DRAIN_TIMEOUT:
    "a VC's deactivation did not drain before the deadline (spec §2.4); the deactivation was aborted",
  ERR_CONDIS_BAD_RETURN: 'a handler returned something that is not an allowed NDIS_STATUS; fix the handler',
  ERR_CONDIS_INVALID_HANDLE: 'an unknown binding, AF or SAP handle; pass the handle NDIS gave you',
  ERR_CONDIS_REGISTRATION: 'a bad registration or binding (duplicate AF, missing handler, VC table full)',
  ERR_CONDIS_VCS_PRESENT:
    'an adapter closed or a miniport halted with VCs still present (spec §5 U10); delete them first',
  // The verifier's rules, ERR_CONDIS_E<n>: a driver broke the rule of CONDIS-SPEC §6 edge case n
  // (test/conformance/e<n>-*.test.ts). Only the rules the verifier checks are listed.
  ERR_CONDIS_E7: 'a CreateVc or DeleteVc handler returned PENDING (E7: they may not pend)',
  ERR_CONDIS_E19: 'a completion function was called with NDIS_STATUS_PENDING (E19)',
  ERR_CONDIS_E20: 'a completion function was called for a request that did not pend (E20)',
  ERR_CONDIS_E21: 'a make-call completed with SUCCESS on a VC that is not active (E21)',
  ERR_CONDIS_E25: 'an incoming call was dispatched on a VC that is not active (E25)',
  ERR_CONDIS_E29: 'a call was connected before it was accepted (E29)',
  ERR_CONDIS_E31: 'a call was closed with sends still in the miniport (E31)',
  ERR_CONDIS_E34: "a close completed with SUCCESS before the VC's deactivation completed (E34)",
  ERR_CONDIS_E36: 'a VC whose call closed with a failure CloseStatus was used again; delete it (E36)',
  ERR_CONDIS_E37: 'the client used a CM-created VC after its close completed (E37)',
  ERR_CONDIS_E43: 'a deactivation completed with SUCCESS while work was outstanding (E43)',
  ERR_CONDIS_E48: 'a receive was indicated on a VC that is not active (E48)',
  ERR_CONDIS_E50: 'an activation reused the parameter set voided by the last deactivation (E50)',
  ERR_CONDIS_E56: 'a VC was deleted by a party that did not create it (E56)',
  ERR_CONDIS_E58: 'a stale or unknown VC handle (E58)',
  ERR_CONDIS_E59: 'an NBL was sent again while held, completed twice, or completed without a send (E59)',
  ERR_CONDIS_E61: "an NBL's SourceHandle does not name the VC it travels on (E61)",
  ERR_CONDIS_E62:
    'an NBL was indicated again while the protocol held it, or returned without an indication (E62)',
  ERR_CONDIS_E63: 'a QoS change completed with SUCCESS without a successful re-activation (E63)',
  ERR_CONDIS_E64: 'an incoming QoS change was indicated before the miniport accepted the parameters (E64)',
} as const;

/** A code of the registry. */
export type ErrorCode = keyof typeof ErrorCodes;

const ringErrorNumbers: ReadonlySet<number> = new Set(Object.values(RingError));

/**
 * 'ERR_CONDIS_RING_CHAIN_LOOP' for RingError.ChainLoop, from the shared RingError numbers.
 * Ok or a number RingError does not name (an addon newer than this file; BAD_REGION should have
 * caught it) is no reason a queue can stop for: ERR_CONDIS_INTERNAL, so every code stays listed.
 */
export function ringErrorCode(err: number): string {
  if (err === RingError.Ok || !ringErrorNumbers.has(err)) return 'ERR_CONDIS_INTERNAL';
  const name = ringErrorName(err); // e.g. 'ChainLoop'
  return `ERR_CONDIS_RING_${name.replace(/([a-z])([A-Z])/g, '$1_$2').toUpperCase()}`;
}

/**
 * Wraps an Error thrown by the addon (plain Error with code/errno/syscall) into a CondisError.
 * The message is the addon's as is: it never repeats the errno name, which is in `code`.
 */
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
