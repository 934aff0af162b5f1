/**
 * The test bed of `condis bench tcp`: two network namespaces made for the run (cbt-a-<pid>,
 * cbt-b-<pid>: HostNamespace of lib/host/namespace.ts), and between them, one path at a time, a
 * link: a veth pair, or two TAPs held by a forwarder process (lib/bench/tcp/forwarders.ts) and
 * moved into the namespaces after it opened them. 10.77.0.1/24 in A (the iperf3 server),
 * 10.77.0.2/24 in B (the client).
 *
 * Everything made is tracked: cleanupSync() kills every child (iperf3, forwarders) and deletes the
 * links and the namespaces; it runs at the end, on errors, after a signal and on process exit.
 */
import type { ChildProcess } from 'node:child_process';
import { HostNamespace, sh } from '../../host/namespace';
import { type ForwarderKind, ForwarderProcess } from './forwarders';
import { CLIENT_ADDR, SERVER_ADDR } from './iperf';

/** How a path joins the two namespaces. */
export type Link = { kind: 'veth' } | { kind: ForwarderKind; offload: boolean };

/** The run's namespace names, unique per process. */
export function rigNames(pid = process.pid): { a: string; b: string } {
  return { a: `cbt-a-${pid}`, b: `cbt-b-${pid}` };
}

/** A link that is up between the namespaces. */
export interface UpLink {
  ifA: string;
  ifB: string;
  forwarder: ForwarderProcess | null;
}

export class TcpRig {
  readonly a: HostNamespace;
  readonly b: HostNamespace;
  private readonly children = new Set<ChildProcess>();
  private link: UpLink | null = null;
  private seq = 0;

  constructor(readonly cfwd: string | null) {
    const n = rigNames();
    this.a = HostNamespace.create(n.a);
    try {
      this.b = HostNamespace.create(n.b);
    } catch (e) {
      this.a.destroy();
      throw e;
    }
    for (const ns of [this.a, this.b]) ns.exec('ip', ['link', 'set', 'lo', 'up']);
  }

  /** Children are tracked until they exit, so cleanup can kill what is left. */
  readonly track = (c: ChildProcess): void => {
    this.children.add(c);
    c.once('close', () => this.children.delete(c));
  };

  /** Interface names for the next link: fresh each time (a closed TAP may take a moment to go). */
  private nextNames(): [string, string] {
    const k = this.seq++;
    return [`cbta${k}p${process.pid}`.slice(0, 15), `cbtb${k}p${process.pid}`.slice(0, 15)];
  }

  /** Puts up one path's link, addressed; the previous one must be down. */
  async up(link: Link): Promise<UpLink> {
    if (this.link) throw new Error('a link is already up');
    const [ifA, ifB] = this.nextNames();
    let forwarder: ForwarderProcess | null = null;
    if (link.kind === 'veth') {
      sh('ip', [
        'link',
        'add',
        ifA,
        'netns',
        this.a.name,
        'type',
        'veth',
        'peer',
        'name',
        ifB,
        'netns',
        this.b.name,
      ]);
    } else {
      forwarder = await ForwarderProcess.start(link.kind, ifA, ifB, link.offload, this.cfwd, this.track);
    }
    this.link = { ifA, ifB, forwarder };
    if (forwarder) {
      // The forwarder holds both fds open across the move.
      sh('ip', ['link', 'set', 'dev', ifA, 'netns', this.a.name]);
      sh('ip', ['link', 'set', 'dev', ifB, 'netns', this.b.name]);
    }
    for (const [ns, ifn, addr] of [
      [this.a, ifA, SERVER_ADDR],
      [this.b, ifB, CLIENT_ADDR],
    ] as const) {
      ns.exec('ip', ['addr', 'add', `${addr}/24`, 'dev', ifn]);
      ns.exec('ip', ['link', 'set', ifn, 'up']);
    }
    return this.link;
  }

  /** Takes the link down: the forwarder stopped (its TAPs go with its fds), a veth deleted. Returns the forwarder's counters. */
  async down(): Promise<Record<string, unknown> | null> {
    const l = this.link;
    this.link = null;
    if (!l) return null;
    if (l.forwarder) return l.forwarder.stop();
    try {
      this.a.exec('ip', ['link', 'del', l.ifA]);
    } catch {
      // already gone
    }
    return null;
  }

  /** Kills every child (SIGKILL), deletes the link and the namespaces. Idempotent; never throws. */
  cleanupSync(): void {
    for (const c of this.children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
    this.children.clear();
    this.link = null;
    this.a.destroy();
    this.b.destroy();
  }
}
