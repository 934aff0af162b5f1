/**
 * Coded errors of the NDIS runtime (lib/ndis): short names for its codes and a factory. There is
 * one CondisError class and one registry of codes, both in lib/errors.ts (the layer below every
 * other); an NDIS runtime error is that CondisError with the VC's snapshot in `details.vc`
 * (read as `err.vc`). Rule codes are `ERR_CONDIS_E<n>`, naming the CONDIS-SPEC §6 edge case whose
 * rule a driver broke.
 */
import { CondisError, type ErrorCode, type VcSnapshot } from '../errors';

export type { VcSnapshot } from '../errors';

/**
 * Short names for the runtime's codes that are not one §6 rule. Not a second registry: each value
 * must be a code of lib/errors.ts ErrorCodes (checked by `satisfies`), where the meanings live.
 */
export const CondisErrorCode = {
  /** An event that has no entry in the transition tables (spec §2.2/§2.5): no state outside them. */
  BAD_TRANSITION: 'ERR_CONDIS_BAD_TRANSITION',
  /** A call made by a driver that is not allowed to make it (e.g. a client calling an NdisCm function). */
  WRONG_CALLER: 'ERR_CONDIS_WRONG_CALLER',
  /** A send asks for an offload its VC's miniport does not currently offer (issue 13). */
  OFFLOAD_NOT_ADVERTISED: 'ERR_CONDIS_OFFLOAD_NOT_ADVERTISED',
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
} as const satisfies Record<string, ErrorCode>;

/** `ERR_CONDIS_E<n>` for edge case n of spec §6. */
export function ruleCode(n: number): string {
  return `ERR_CONDIS_E${n}`;
}

/**
 * A CondisError raised by the NDIS runtime: `vc`, when given, is appended to the message and kept
 * in `details.vc` (so `err.vc` reads it).
 */
export function ndisError(code: string, message: string, vc?: VcSnapshot): CondisError {
  return vc
    ? new CondisError(code, `${message} [${describeVc(vc)}]`, { vc })
    : new CondisError(code, message);
}

export function describeVc(vc: VcSnapshot): string {
  return (
    `vc ${vc.slot} (handle 0x${vc.handle.toString(16)}) A=${vc.activation} C=${vc.call} ` +
    `txInMiniport=${vc.txInMiniport} rxHeld=${vc.rxHeld}${vc.stopping ? ' stopping' : ''}`
  );
}
