/**
 * Host-side plumbing for TAP loops, done with the iproute2 tools (the device itself configures its
 * TAP by ioctl; these set up the *host's* side: a tc redirect and a quiet interface).
 */
import { execFileSync } from 'node:child_process';

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

/** No IPv6 on the interface: the kernel then sends no router solicitations or MLD reports into it. */
export function quiet(name: string): void {
  try {
    execFileSync('sysctl', ['-q', '-w', `net.ipv6.conf.${name}.disable_ipv6=1`], { stdio: 'ignore' });
  } catch {
    // no IPv6 at all: already quiet
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
