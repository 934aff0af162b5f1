/**
 * Tests that need a real TAP: they run when this process may create one, and they MUST run when
 * CI=true (CI is root) — there a missing privilege fails the suite instead of skipping it.
 */
import * as fs from 'node:fs';

export function tapPrivilege(): { ok: true } | { ok: false; why: string } {
  if (!fs.existsSync('/dev/net/tun')) return { ok: false, why: 'no /dev/net/tun on this machine' };
  if (typeof process.getuid === 'function' && process.getuid() !== 0) {
    // Not root: CAP_NET_ADMIN could still be granted as an ambient capability; check the set.
    const status = fs.readFileSync('/proc/self/status', 'utf8');
    const eff = /CapEff:\s*([0-9a-f]+)/.exec(status)?.[1] ?? '0';
    if ((BigInt(`0x${eff}`) & (1n << 12n)) === 0n) {
      return { ok: false, why: 'not root and no CAP_NET_ADMIN (creating a TAP needs it)' };
    }
  }
  return { ok: true };
}

/** true if TAP tests should run; throws under CI=true if they cannot; else logs why they skip. */
export function tapTestsEnabled(suite: string): boolean {
  const p = tapPrivilege();
  if (p.ok) return true;
  if (process.env.CI === 'true')
    throw new Error(`${suite}: TAP tests are mandatory in CI but cannot run: ${p.why}`);
  console.warn(`[skip] ${suite}: ${p.why}`);
  return false;
}
