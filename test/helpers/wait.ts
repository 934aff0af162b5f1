/**
 * Waits, without sleeping a fixed time, until `cond()` holds (checked every few ms) or fails with
 * `what` (a function is called at the timeout, so the message can say how far it got).
 */
export async function waitUntil(
  cond: () => boolean,
  what: string | (() => string),
  timeoutMs = 5000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline) {
      throw new Error(
        `timed out after ${timeoutMs} ms waiting for ${typeof what === 'function' ? what() : what}`,
      );
    }
    await new Promise((r) => setTimeout(r, 2));
  }
}
