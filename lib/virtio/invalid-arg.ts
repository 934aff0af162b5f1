/**
 * The argument checks of lib/virtio (region, buffer pool, driver queue): every one raises the
 * project's CondisError with the stable code ERR_CONDIS_INVALID_ARG (lib/errors.ts), as lib/device
 * does, so an error a user meets through the package root always carries a code of ErrorCodes.
 * Not on a hot path: the checks run at setup, or when a call is already wrong.
 */
import { CondisError } from '../errors';

/**
 * An argument error of lib/virtio: a CondisError with code `ERR_CONDIS_INVALID_ARG`. Until issue
 * 11 it was a TypeError or RangeError; `details.kind` still says which ('type': wrong type,
 * 'range': out of range), for code that told the two apart with instanceof.
 */
export type InvalidArgError = CondisError & {
  readonly code: 'ERR_CONDIS_INVALID_ARG';
  readonly details: { readonly kind: 'type' | 'range' };
};

/** Builds (does not throw) the error for a bad argument; `message` names the argument. */
export function invalidArg(kind: 'type' | 'range', message: string): InvalidArgError {
  return new CondisError('ERR_CONDIS_INVALID_ARG', message, { kind }) as InvalidArgError;
}

/** Throws unless `v` is an integer in [min, max]; `name` goes into the message. */
export function checkInt(name: string, v: unknown, min: number, max: number): number {
  if (typeof v !== 'number' || !Number.isInteger(v)) {
    throw invalidArg('type', `${name} must be an integer, got ${describe(v)}`);
  }
  if (v < min || v > max) {
    throw invalidArg('range', `${name} must be in [${min}, ${max}], got ${v}`);
  }
  return v;
}

/** A value as a message shows it: numbers and strings as written, anything else by its type. */
export function describe(v: unknown): string {
  if (typeof v === 'number') return String(v);
  if (typeof v === 'string') return JSON.stringify(v);
  if (v === null) return 'null';
  return typeof v;
}
