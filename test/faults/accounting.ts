/**
 * What every fault test ends with: each NBL the client sent completed exactly once, with one of
 * the statuses the fault allows; the deactivation's final status, its coded error, and the time it
 * took against its deadline.
 */
import { expect } from 'vitest';
import type { CondisError } from '../../lib/errors';
import type { MiniportAdapter } from '../../lib/miniport';
import { type NdisStatus, type NetBufferList, statusName } from '../../lib/ndis';

/** Every NBL of `sent` appears exactly once in `completed`; returns the count per status name. */
export function expectEachCompletedOnce(
  sent: readonly NetBufferList[],
  completed: readonly NetBufferList[],
  allowed: readonly string[],
): Record<string, number> {
  const seen = new Map<NetBufferList, number>();
  for (const p of completed) seen.set(p, (seen.get(p) ?? 0) + 1);
  const never = sent.filter((p) => !seen.has(p)).length;
  const twice = [...seen.values()].filter((n) => n > 1).length;
  const strangers = [...seen.keys()].filter((p) => !sent.includes(p)).length;
  expect({ never, twice, strangers }).toEqual({ never: 0, twice: 0, strangers: 0 });
  const byStatus: Record<string, number> = {};
  for (const p of sent) byStatus[statusName(p.status)] = (byStatus[statusName(p.status)] ?? 0) + 1;
  expect(Object.keys(byStatus).filter((s) => !allowed.includes(s))).toEqual([]);
  return byStatus;
}

/** Collects the adapter's vcAbort events with the time each came (performance.now()). */
export function abortsOf(adapter: MiniportAdapter): Array<{ err: CondisError; at: number }> {
  const out: Array<{ err: CondisError; at: number }> = [];
  adapter.on('vcAbort', (err) => out.push({ err, at: performance.now() }));
  return out;
}

/** Resolves with the deactivation's final status and when it came. */
export async function timed(done: Promise<NdisStatus>): Promise<{ status: NdisStatus; at: number }> {
  const status = await done;
  return { status, at: performance.now() };
}
