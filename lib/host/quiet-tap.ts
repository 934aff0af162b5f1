/**
 * openQuietTap: a TAP the kernel puts no frame of its own on. It is created down, IPv6 is turned
 * off on it (lib/host/tc.ts quiet()), and only then does it go up, so no router solicitation, MLD
 * report or DAD probe ever reaches the device: the device's counters (the tests) and the
 * signalling VC on its untagged pair (`condis node`) see only the frames meant for them. Turning
 * IPv6 off after the link is up is too late: the first MLD report may already be queued.
 */
import type { Device } from '../device/device';
import { openTap } from '../device/open';
import type { DeviceOptions } from '../device/options';
import { CondisError } from '../errors';
import { quiet } from './tc';

/** Throws (and leaves no TAP) if IPv6 is there and cannot be turned off. */
export function openQuietTap(options: DeviceOptions & { name: string }): Device {
  const d = openTap({ ...options, up: false });
  try {
    if (!quiet(options.name)) {
      throw new CondisError(
        'ERR_CONDIS_INVALID_STATE',
        `cannot turn IPv6 off on ${options.name} (/proc/sys/net/ipv6/conf/${options.name}/disable_ipv6 not writable): the kernel's own frames would reach the device`,
      );
    }
    if (options.up !== false) d.setLink(true);
  } catch (e) {
    d.destroy();
    throw e;
  }
  return d;
}
