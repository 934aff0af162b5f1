/**
 * AbortSignal support for the plain Node surface (lib/vc): the error an aborted operation rejects
 * with. Node's own shape (what `events.once`, `timers/promises` and streams reject with when their
 * `signal` aborts): name 'AbortError', code 'ABORT_ERR', the signal's reason as `cause`. Node
 * does not export its class, so this is a copy of its shape: test `err.name === 'AbortError'` or
 * `err.code === 'ABORT_ERR'`, not `instanceof`.
 */

/** The error an operation given an aborted `signal` rejects with (Node's AbortError shape). */
export class AbortError extends Error {
  /** Always 'ABORT_ERR', as Node's own AbortError. */
  readonly code = 'ABORT_ERR';

  constructor(message = 'The operation was aborted', options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'AbortError';
  }
}

/** Throws AbortError (the signal's reason as its cause) if `signal` has aborted. */
export function throwIfAborted(signal: AbortSignal | undefined, what: string): void {
  if (signal?.aborted) throw new AbortError(`${what} was aborted`, { cause: signal.reason });
}

/**
 * Settles with `p`, or rejects with AbortError as soon as `signal` aborts (`p` runs on: the
 * caller decides what to undo). No signal: `p` itself.
 */
export function abortable<T>(p: Promise<T>, signal: AbortSignal | undefined, what: string): Promise<T> {
  if (!signal) return p;
  if (signal.aborted) return Promise.reject(new AbortError(`${what} was aborted`, { cause: signal.reason }));
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(new AbortError(`${what} was aborted`, { cause: signal.reason }));
    signal.addEventListener('abort', onAbort, { once: true });
    p.then(
      (v) => {
        signal.removeEventListener('abort', onAbort);
        resolve(v);
      },
      (e: unknown) => {
        signal.removeEventListener('abort', onAbort);
        reject(e);
      },
    );
  });
}
