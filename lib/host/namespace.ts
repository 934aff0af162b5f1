/**
 * The Linux host's side of a VC that `ping` crosses (host plumbing: commands run on this Linux
 * host, no NDIS; used by lib/scenarios/demo*.ts). A network namespace of its own receives the TAP,
 * and the host's end of the VC is set up there — the VLAN subinterface `<tap>.<vid>` when the
 * kernel has 802.1Q, else the address on the TAP itself with the VID pushed and popped by two tcx
 * eBPF programs (vlan-tagger.py, next to this file). The kernel's own `ping` (iputils) runs inside.
 * Nothing outside the namespace is touched; deleting it (and closing the TAP) undoes everything.
 *
 * Layer: beside the stack, not in it — iproute2, iputils and python3 on the host, reached through
 * child processes. The far side on the in-process wire (no host) is lib/client/pinger.ts.
 */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { CondisError } from '../errors';

/** A command's output; throws ERR_CONDIS_HOST_COMMAND carrying its stderr when it fails. */
export function sh(cmd: string, args: string[]): string {
  try {
    return execFileSync(cmd, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  } catch (e) {
    const err = e as { stderr?: string; signal?: string | null; status?: number | null; message: string };
    // Without stderr, say how it ended: execFileSync's own message repeats the command line.
    const how = err.signal
      ? `killed by ${err.signal}`
      : err.status != null
        ? `exit status ${err.status}`
        : err.message;
    throw new CondisError(
      'ERR_CONDIS_HOST_COMMAND',
      `${cmd} ${args.join(' ')}: ${(err.stderr ?? '').trim() || how}`,
    );
  }
}

/**
 * Resolves once the event loop has polled again, so that a signal which came while a synchronous
 * command (sh) blocked the loop has run its handlers. Why: Ctrl-C in a terminal signals the whole
 * process group, so the `ip` command dies of it and sh() throws before this process has handled
 * its own SIGINT; a caller that checks its AbortSignal after this reports the interruption it
 * was, not the command's failure. Two turns: the first check phase may come before this
 * iteration's poll; the second comes after the next one.
 */
export async function afterPendingSignals(): Promise<void> {
  await new Promise((r) => setImmediate(r));
  await new Promise((r) => setImmediate(r));
}

/** A command whose failure does not matter (cleanup of something that may already be gone). */
export function shQuiet(cmd: string, args: string[]): void {
  try {
    execFileSync(cmd, args, { stdio: 'ignore' });
  } catch {
    // cleanup of something that may already be gone
  }
}

/** The tagger script: next to this file (sources), or in lib/host of the tree dist/ was built from. */
export function vlanTaggerScript(): string {
  for (const p of [
    path.join(__dirname, 'vlan-tagger.py'),
    path.resolve(__dirname, '../../../lib/host/vlan-tagger.py'),
  ]) {
    if (fs.existsSync(p)) return p;
  }
  throw new CondisError('ENOENT', 'lib/host/vlan-tagger.py not found (needed on a kernel without 802.1Q)');
}

/** null if this kernel can create 802.1Q VLAN subinterfaces, else why not. */
export function vlanUnsupported(): string | null {
  if (fs.existsSync('/proc/net/vlan')) return null;
  shQuiet('modprobe', ['-q', '8021q']);
  if (fs.existsSync('/proc/net/vlan')) return null;
  return 'kernel without CONFIG_VLAN_8021Q';
}

/** Why the host cannot play its part (iproute2, iputils ping, python3 for the tagger), or null. */
export function hostToolsMissing(): string | null {
  try {
    sh('ip', ['-V']);
  } catch {
    return 'no `ip` (iproute2)';
  }
  try {
    if (!sh('ping', ['-V']).includes('iputils')) return '`ping` is not iputils';
  } catch {
    return 'no `ping` (iputils-ping)';
  }
  if (vlanUnsupported() !== null) {
    try {
      sh('python3', ['-c', 'import ctypes']);
    } catch {
      return 'no 802.1Q in the kernel and no python3 for the eBPF tagger';
    }
  }
  return null;
}

export interface PingResult {
  transmitted: number;
  received: number;
  output: string;
}

/** How the host's end of the VC was set up. */
export type HostVlan = 'vlan-subinterface' | 'tcx-tagger';

export interface InterfaceCounters {
  rxPackets: number;
  txPackets: number;
  rxDropped: number;
  txDropped: number;
}

/** A network namespace holding the host's side of the demo. destroy() removes it (idempotent). */
export class HostNamespace {
  private readonly children = new Set<ChildProcess>();
  private gone = false;
  hostIf = '';
  vlan: HostVlan = 'tcx-tagger';

  private constructor(readonly name: string) {}

  /** `ip netns add NAME`, with IPv6 off inside (no router solicitations or MLD on the VC). */
  static create(name: string): HostNamespace {
    sh('ip', ['netns', 'add', name]);
    const ns = new HostNamespace(name);
    try {
      // Written to /proc inside the namespace (its own net sysctls): no procps needed.
      ns.exec('sh', [
        '-c',
        'for k in all default; do echo 1 > /proc/sys/net/ipv6/conf/$k/disable_ipv6; done',
      ]);
    } catch {
      // no IPv6 in this kernel: already quiet
    }
    return ns;
  }

  exec(cmd: string, args: string[]): string {
    return sh('ip', ['netns', 'exec', this.name, cmd, ...args]);
  }

  /**
   * Moves `tap` in and gives the host `cidr` on VLAN `vid` of it: `<tap>.<vid>` with 802.1Q, else
   * on the TAP itself with the tcx tagger. Returns how.
   */
  attachTap(tap: string, vid: number, cidr: string): HostVlan {
    sh('ip', ['link', 'set', tap, 'netns', this.name]);
    this.exec('ip', ['link', 'set', tap, 'up']);
    if (vlanUnsupported() === null) {
      this.hostIf = `${tap}.${vid}`;
      this.vlan = 'vlan-subinterface';
      this.exec('ip', ['link', 'add', 'link', tap, 'name', this.hostIf, 'type', 'vlan', 'id', String(vid)]);
      this.exec('ip', ['link', 'set', this.hostIf, 'up']);
    } else {
      this.hostIf = tap;
      this.vlan = 'tcx-tagger';
      this.exec('python3', [vlanTaggerScript(), tap, String(vid)]);
    }
    this.exec('ip', ['addr', 'add', cidr, 'dev', this.hostIf]);
    return this.vlan;
  }

  /**
   * The kernel's ping inside the namespace, asynchronously (the responder runs on this process's
   * event loop). ping exits 1 when replies are missing; the counts come from its summary.
   */
  ping(target: string, args: string[]): Promise<PingResult> {
    return new Promise((resolve, reject) => {
      const child = spawn('ip', ['netns', 'exec', this.name, 'ping', ...args, target], {
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      this.children.add(child);
      let output = '';
      child.stdout.on('data', (d) => {
        output += d;
      });
      child.stderr.on('data', (d) => {
        output += d;
      });
      child.on('error', (e) => {
        this.children.delete(child);
        reject(e);
      });
      child.on('close', () => {
        this.children.delete(child);
        const m = /(\d+) packets transmitted, (\d+) received/.exec(output);
        if (!m) reject(new CondisError('ERR_CONDIS_HOST_COMMAND', `ping gave no summary:\n${output.trim()}`));
        else resolve({ transmitted: Number(m[1]), received: Number(m[2]), output });
      });
    });
  }

  /** The kernel's counters of an interface inside the namespace, or null if it is gone. */
  counters(ifname: string): InterfaceCounters | null {
    try {
      const j = JSON.parse(this.exec('ip', ['-j', '-s', 'link', 'show', 'dev', ifname])) as Array<{
        stats64?: { rx: { packets: number; dropped: number }; tx: { packets: number; dropped: number } };
      }>;
      const s = j[0]?.stats64;
      if (!s) return null;
      return {
        rxPackets: s.rx.packets,
        txPackets: s.tx.packets,
        rxDropped: s.rx.dropped,
        txDropped: s.tx.dropped,
      };
    } catch {
      return null;
    }
  }

  /** Kills the pings still running (SIGKILL, by pid) and deletes the namespace. Idempotent. */
  destroy(): void {
    for (const c of this.children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
    this.children.clear();
    if (this.gone) return;
    this.gone = true;
    shQuiet('ip', ['netns', 'del', this.name]);
  }
}
