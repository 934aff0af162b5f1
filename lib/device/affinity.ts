/**
 * CPU affinity of the calling JS thread, the counterpart of DeviceOptions.cpus for the device's
 * I/O thread: to keep a device's thread and the JS thread that drives it on chosen cores (the
 * pps benchmark's --wire-cpus).
 */
import { fromNative } from '../errors';
import { native } from '../native';
import { checkCpus } from './options';

/**
 * Restricts the calling thread (the JS thread that calls it, main or worker) to `cpus`; `null`
 * lifts the restriction (every CPU the process may use). Throws ERR_CONDIS_INVALID_ARG for a bad
 * list and EINVAL when none of the CPUs is online and allowed.
 */
export function setThreadCpus(cpus: readonly number[] | null): void {
  const list = cpus === null ? [] : checkCpus(cpus, 'cpus');
  try {
    native().setThreadCpus(list);
  } catch (e) {
    throw fromNative(e);
  }
}
