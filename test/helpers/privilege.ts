/**
 * Tests that need a real TAP: they run when this process may create one, and they MUST run when
 * CI=true (CI is root) — there a missing privilege fails the suite instead of skipping it.
 */
import { spawnSync } from 'node:child_process';
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

/** Why the host side of the TAP tests cannot be set up (ip and tc of iproute2), or null. */
export function hostToolsMissing(): string | null {
  for (const tool of ['ip', 'tc']) {
    if (spawnSync(tool, ['-V'], { stdio: 'ignore' }).error) {
      return `no '${tool}' command (Debian package iproute2)`;
    }
  }
  return null;
}

/** true if TAP tests should run; throws under CI=true if they cannot; else logs why they skip. */
export function tapTestsEnabled(suite: string): boolean {
  const p = tapPrivilege();
  const why = p.ok ? hostToolsMissing() : p.why;
  if (why === null) return true;
  if (process.env.CI === 'true')
    throw new Error(`${suite}: TAP tests are mandatory in CI but cannot run: ${why}`);
  console.warn(`[skip] ${suite}: ${why}`);
  return false;
}
