/**
 * Host-side plumbing for TAP loops, done with the iproute2 tools (the device itself configures its
 * TAP by ioctl; these set up the *host's* side: a tc redirect and a quiet interface).
 */
import { execFileSync } from 'node:child_process';
import { existsSync, writeFileSync } from 'node:fs';

/** Frames written into `from` by its device come out of `to` (tc ingress qdisc + mirred redirect). */
export function mirred(from: string, to: string): void {
  execFileSync('tc', ['qdisc', 'add', 'dev', from, 'ingress'], { stdio: ['ignore', 'ignore', 'pipe'] });
  execFileSync(
    'tc',
    [
      'filter',
      'add',
      'dev',
      from,
      'parent',
      'ffff:',
      'protocol',
      'all',
      'prio',
      '1',
      'u32',
      'match',
      'u32',
      '0',
      '0',
      'action',
      'mirred',
      'egress',
      'redirect',
      'dev',
      to,
    ],
    { stdio: ['ignore', 'ignore', 'pipe'] },
  );
}

/**
 * No IPv6 on the interface: the kernel then sends no router solicitations, MLD reports or DAD
 * probes into it. Do it before the link goes up: once it is up, the first report may already be
 * queued. Written to /proc directly (no procps needed; sysctl(8) would split a name with a dot,
 * like a VLAN subinterface's). Returns true if the interface is quiet now (or the kernel has no
 * IPv6 at all), false if IPv6 could not be turned off (say, /proc/sys mounted read-only).
 */
export function quiet(name: string): boolean {
  if (!existsSync('/proc/sys/net/ipv6/conf')) return true;
  try {
    writeFileSync(`/proc/sys/net/ipv6/conf/${name}/disable_ipv6`, '1');
    return true;
  } catch {
    return false;
  }
}

/** The kernel's counter for an interface (statistics/<stat>), or NaN if it is gone. */
export function ifStat(name: string, stat: string): number {
  try {
    return Number(require('node:fs').readFileSync(`/sys/class/net/${name}/statistics/${stat}`, 'utf8'));
  } catch {
    return Number.NaN;
  }
}
