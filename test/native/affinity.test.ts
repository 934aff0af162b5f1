// CPU affinity: DeviceOptions.cpus for a device's I/O thread, setThreadCpus for the calling JS
// thread. Checked against what the kernel reports in /proc (Cpus_allowed_list).
import * as fs from 'node:fs';
import * as os from 'node:os';
import { afterEach, describe, expect, it } from 'vitest';
import { type Device, openWirePair, setThreadCpus } from '../../lib/device';

let open: Device[] = [];
afterEach(async () => {
  for (const d of open) d.destroy();
  open = [];
  setThreadCpus(null);
});

const allowed = (status: string): string => /^Cpus_allowed_list:\s*(\S+)$/m.exec(status)?.[1] ?? '?';
const selfAllowed = () => allowed(fs.readFileSync('/proc/thread-self/status', 'utf8'));

/** Cpus_allowed_list of this process's threads whose name starts with `prefix`. */
function threadsAllowed(prefix: string): string[] {
  const out: string[] = [];
  for (const tid of fs.readdirSync('/proc/self/task')) {
    try {
      const comm = fs.readFileSync(`/proc/self/task/${tid}/comm`, 'utf8').trim();
      if (comm.startsWith(prefix))
        out.push(allowed(fs.readFileSync(`/proc/self/task/${tid}/status`, 'utf8')));
    } catch {
      // the thread ended meanwhile
    }
  }
  return out;
}

const ncpu = os.availableParallelism();
const last = ncpu - 1;

describe('CPU affinity', () => {
  it('cpus pins the device threads, and only them', () => {
    const before = selfAllowed();
    const [a, b] = openWirePair({ queuePairs: 1, name: 'aff', cpus: [last] });
    open.push(a, b);
    expect(threadsAllowed('condis-wire')).toEqual([String(last), String(last)]);
    expect(selfAllowed()).toBe(before); // the JS thread that opened them is as it was
  });

  it('CPUs that do not exist: EINVAL with the list, nothing started, the JS thread untouched', () => {
    const before = selfAllowed();
    const threads = fs.readdirSync('/proc/self/task').length;
    let err: (Error & { code?: string }) | undefined;
    try {
      open.push(...openWirePair({ queuePairs: 1, name: 'affbad', cpus: [1023] }));
    } catch (e) {
      err = e as Error & { code?: string };
    }
    expect(err?.code).toBe('EINVAL');
    expect(err?.message).toMatch(/CPUs \[1023\]/);
    expect(threadsAllowed('condis-wire')).toEqual([]);
    expect(fs.readdirSync('/proc/self/task').length).toBe(threads);
    expect(selfAllowed()).toBe(before);
  });

  it.each([[[]], [[-1]], [[0, 0]], [[1.5]], ['0']])(
    'cpus %j is refused with ERR_CONDIS_INVALID_ARG',
    (cpus) => {
      expect(() => openWirePair({ cpus: cpus as number[] })).toThrow(
        expect.objectContaining({ code: 'ERR_CONDIS_INVALID_ARG' }),
      );
      expect(() => setThreadCpus(cpus as number[])).toThrow(
        expect.objectContaining({ code: 'ERR_CONDIS_INVALID_ARG' }),
      );
    },
  );

  it('setThreadCpus pins the calling thread and null lifts it; a bad list changes nothing', () => {
    const all = selfAllowed();
    setThreadCpus([0]);
    expect(selfAllowed()).toBe('0');
    expect(() => setThreadCpus([1023])).toThrow(expect.objectContaining({ code: 'EINVAL' }));
    expect(selfAllowed()).toBe('0');
    setThreadCpus(null);
    expect(selfAllowed()).toBe(all);
  });
});
