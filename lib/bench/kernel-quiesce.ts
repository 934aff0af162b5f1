/**
 * The kernel's own quiesce of a TAP, as the comparison for `condis bench drain`: a TAP that
 * nobody reads gets `depth` frames queued towards its reader (sent into the interface through an
 * AF_PACKET socket, they wait in the tun's ring), then the interface is taken down with
 * ioctl(SIOCSIFFLAGS) and the time of that ioctl is measured.
 *
 * Node has no ioctl, and a process per iteration would measure fork/exec, so ONE python3 helper
 * process (kernel-quiesce.py, next to this file; shipped in the package) owns the TAP, the
 * control socket and the packet socket, and answers one command per line on stdin/stdout; it
 * times the ioctl itself with clock_gettime(CLOCK_MONOTONIC) so that neither the pipe nor Node's
 * event loop is in the measured span. python3 rather than a C helper
 * compiled at run time: it needs no compiler, and the fcntl.ioctl call adds well under a
 * microsecond to a syscall that takes tens to hundreds.
 *
 * Protocol: "q DEPTH\n" -> "ok NS SENT READABLE\n": the interface is brought up, DEPTH frames are
 * sent, the down ioctl takes NS nanoseconds, then the helper reads (and discards) what is still
 * readable from the TAP: READABLE frames the kernel kept after the down. "x\n" ends the helper
 * (the TAP is not persistent: closing its fd removes it). Errors: "err MESSAGE\n".
 */
import { type ChildProcessWithoutNullStreams, spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { packageRoot } from './pps/files';

/**
 * The helper program: lib/bench/kernel-quiesce.py under the package root, the same file whether
 * this module runs from lib/ (tsx, tests) or from dist/lib/ (compiled): packageRoot() walks up to
 * binding.gyp from either.
 */
export function kernelQuiesceScript(): string {
  return path.join(packageRoot(), 'lib', 'bench', 'kernel-quiesce.py');
}

export interface QuiesceSample {
  /** Duration of the SIOCSIFFLAGS(down) ioctl, ns. */
  ns: number;
  /** Frames handed to the interface before the down. */
  sent: number;
  /** Frames still readable from the TAP after the down (the kernel kept them). */
  readable: number;
  /** Interface counters moved by this sample (after - before). */
  txDropped: number;
  rxDropped: number;
}

export class KernelQuiesce {
  private buffered = '';
  private waiting: ((line: string) => void) | null = null;
  private exited: string | null = null;

  private constructor(
    readonly ifname: string,
    private readonly child: ChildProcessWithoutNullStreams,
  ) {
    child.stdout.setEncoding('utf8');
    child.stdout.on('data', (d: string) => {
      this.buffered += d;
      for (let nl = this.buffered.indexOf('\n'); nl >= 0; nl = this.buffered.indexOf('\n')) {
        const line = this.buffered.slice(0, nl);
        this.buffered = this.buffered.slice(nl + 1);
        const w = this.waiting;
        this.waiting = null;
        w?.(line);
      }
    });
    let stderr = '';
    child.stderr.setEncoding('utf8');
    child.stderr.on('data', (d: string) => (stderr += d));
    child.on('exit', (code) => {
      this.exited = `kernel quiesce helper exited (${code}): ${stderr.trim().split('\n').pop() ?? ''}`;
      const w = this.waiting;
      this.waiting = null;
      w?.(`err ${this.exited}`);
    });
    child.on('error', (e) => {
      this.exited = `cannot run python3 for the kernel comparison: ${e.message}`;
      const w = this.waiting;
      this.waiting = null;
      w?.(`err ${this.exited}`);
    });
  }

  /** Starts the helper with a TAP named `ifname` whose queue holds `maxDepth` frames. */
  static async start(ifname: string, maxDepth: number): Promise<KernelQuiesce> {
    const txqlen = Math.max(1000, maxDepth + 64);
    const script = kernelQuiesceScript();
    if (!fs.existsSync(script)) throw new Error(`kernel quiesce helper: ${script} not found`);
    const child = spawn('python3', [script, ifname, String(txqlen)], { stdio: 'pipe' });
    const k = new KernelQuiesce(ifname, child);
    const first = await k.line();
    if (first !== 'ready') {
      k.stop();
      throw new Error(first.replace(/^err /, 'kernel quiesce helper: '));
    }
    return k;
  }

  /** One measurement with `depth` frames queued. */
  async sample(depth: number): Promise<QuiesceSample> {
    const txBefore = this.stat('tx_dropped');
    const rxBefore = this.stat('rx_dropped');
    this.child.stdin.write(`q ${depth}\n`);
    const reply = await this.line();
    const m = /^ok (\d+) (\d+) (\d+)$/.exec(reply);
    if (!m) throw new Error(reply.replace(/^err /, 'kernel quiesce helper: '));
    return {
      ns: Number(m[1]),
      sent: Number(m[2]),
      readable: Number(m[3]),
      txDropped: this.stat('tx_dropped') - txBefore,
      rxDropped: this.stat('rx_dropped') - rxBefore,
    };
  }

  stop(): void {
    if (this.exited === null && this.child.exitCode === null) {
      this.child.stdin.end('x\n');
      const t = setTimeout(() => this.child.kill('SIGKILL'), 2000);
      t.unref();
      this.child.once('exit', () => clearTimeout(t));
    }
  }

  private stat(k: string): number {
    try {
      return Number(fs.readFileSync(`/sys/class/net/${this.ifname}/statistics/${k}`, 'utf8'));
    } catch {
      return 0;
    }
  }

  private line(): Promise<string> {
    if (this.exited) return Promise.resolve(`err ${this.exited}`);
    return new Promise((resolve) => (this.waiting = resolve));
  }
}
