/**
 * The few namespace operations the cluster needs by name, from any process (`down` runs in a
 * different process than `up`, so it holds no HostNamespace objects): run a command inside, list
 * the namespaces, list the processes inside. Built on lib/host/namespace.ts's sh(); a failing
 * command becomes ERR_CONDIS_CLUSTER_FAILED naming the host step that failed.
 */
import { CondisError } from '../errors';
import { sh, shQuiet } from '../host/namespace';

/** `ip netns exec <ns> cmd args...`; throws ERR_CONDIS_CLUSTER_FAILED with the command's stderr. */
export function nsRun(ns: string, cmd: string, args: string[]): string {
  try {
    return sh('ip', ['netns', 'exec', ns, cmd, ...args]);
  } catch (e) {
    throw new CondisError('ERR_CONDIS_CLUSTER_FAILED', `in ${ns}: ${(e as Error).message}`, {
      namespace: ns,
    });
  }
}

/** The same, for cleanup: a failure (the thing is already gone) is ignored. */
export function nsRunQuiet(ns: string, cmd: string, args: string[]): void {
  shQuiet('ip', ['netns', 'exec', ns, cmd, ...args]);
}

/** The names of the machine's named network namespaces (`ip netns list`). */
export function listNamespaces(): string[] {
  try {
    return sh('ip', ['netns', 'list'])
      .split('\n')
      .map((l) => l.split(' ')[0] ?? '')
      .filter((n) => n !== '');
  } catch {
    return [];
  }
}

/** Pids of the processes inside namespace `ns` (`ip netns pids`), [] if it is gone. */
export function nsPids(ns: string): number[] {
  try {
    return sh('ip', ['netns', 'pids', ns])
      .split(/\s+/)
      .filter((p) => /^\d+$/.test(p))
      .map(Number);
  } catch {
    return [];
  }
}

/** true if interface `ifname` exists in `ns`. */
export function linkExists(ns: string, ifname: string): boolean {
  try {
    sh('ip', ['-n', ns, 'link', 'show', 'dev', ifname]);
    return true;
  } catch {
    return false;
  }
}
