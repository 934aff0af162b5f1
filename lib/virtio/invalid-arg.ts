/** An argument error with the project's stable code (`ERR_CONDIS_INVALID_ARG`). */
export type InvalidArgError = (TypeError | RangeError) & { code: 'ERR_CONDIS_INVALID_ARG' };

export function invalidArg(kind: 'type' | 'range', message: string): InvalidArgError {
  const err = (kind === 'type' ? new TypeError(message) : new RangeError(message)) as InvalidArgError;
  err.code = 'ERR_CONDIS_INVALID_ARG';
  return err;
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

export function describe(v: unknown): string {
  if (typeof v === 'number') return String(v);
  if (typeof v === 'string') return JSON.stringify(v);
  if (v === null) return 'null';
  return typeof v;
}
