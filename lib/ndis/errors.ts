/**
 * Coded errors of the NDIS runtime. The `code` is the stable public API; messages may change.
 * Rule codes are `ERR_CONDIS_E<n>`, naming the CONDIS-SPEC §6 edge case whose rule a driver broke.
 * The class is the project's one CondisError (lib/errors.ts), with the VC snapshot attached.
 */
import { CondisError as BaseCondisError } from '../errors';

/** What a verifier message says about the VC involved. */
export interface VcSnapshot {
  readonly handle: number;
  readonly slot: number;
  readonly activation: string;
  readonly call: string;
  readonly txInMiniport: number;
  readonly rxHeld: number;
  readonly stopping: boolean;
}

/** Codes that are not one §6 rule. */
export const CondisErrorCode = {
  /** An event that has no entry in the transition tables (spec §2.2/§2.5): no state outside them. */
  BAD_TRANSITION: 'ERR_CONDIS_BAD_TRANSITION',
  /** A call made by a driver that is not allowed to make it (e.g. a client calling an NdisCm function). */
  WRONG_CALLER: 'ERR_CONDIS_WRONG_CALLER',
  /** An NdisCm* function on an MCM VC or an NdisMCm* function on a stand-alone VC (spec §5 C4). */
  WRONG_VARIANT: 'ERR_CONDIS_WRONG_VARIANT',
  /** A hung drain hit the configured deactivation deadline (spec §2.4; issue point 6). */
  DRAIN_TIMEOUT: 'ERR_CONDIS_DRAIN_TIMEOUT',
  /** A handler returned something that is not a status. */
  BAD_RETURN: 'ERR_CONDIS_BAD_RETURN',
  /** Unknown binding, AF or SAP handle. */
  INVALID_HANDLE: 'ERR_CONDIS_INVALID_HANDLE',
  /** Bad registration or binding (duplicate AF, missing handler). */
  REGISTRATION: 'ERR_CONDIS_REGISTRATION',
  /** Adapter closed or miniport halted with VCs still present (spec §5 U10). */
  VCS_PRESENT: 'ERR_CONDIS_VCS_PRESENT',
} as const;

/** `ERR_CONDIS_E<n>` for edge case n of spec §6. */
export function ruleCode(n: number): string {
  return `ERR_CONDIS_E${n}`;
}

/** A CondisError (lib/errors.ts) raised by the NDIS runtime, with the VC it is about. */
export class CondisError extends BaseCondisError {
  /** The VC the error is about, when there is one. */
  readonly vc: VcSnapshot | undefined;

  constructor(code: string, message: string, vc?: VcSnapshot) {
    super(code, vc ? `${message} [${describeVc(vc)}]` : message, vc ? { vc } : {});
    this.vc = vc;
  }
}

export function describeVc(vc: VcSnapshot): string {
  return (
    `vc ${vc.slot} (handle 0x${vc.handle.toString(16)}) A=${vc.activation} C=${vc.call} ` +
    `txInMiniport=${vc.txInMiniport} rxHeld=${vc.rxHeld}${vc.stopping ? ' stopping' : ''}`
  );
}
