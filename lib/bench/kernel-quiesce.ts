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
 *
 * The helper never keeps Node alive on its own: its process and pipes are unref'd except while
 * a reply is awaited. A caller that fails between start() and stop() (a file it cannot open, a
 * device that cannot be made) still lets the process exit; the helper then reads EOF on its stdin
 * and exits too, taking its TAP with it. stop() ends it at once and kills it if it does not go.
 */
import { type ChildProcessWithoutNullStreams, spawn } from 'node:child_process';
import * as fs from 'node:fs';
import type { Socket } from 'node:net';
import * as path from 'node:path';
import { CondisError } from '../errors';
import { packageRoot } from './pps/files';

/**
 * The helper program: lib/bench/kernel-quiesce.py under the package root, the same file whether
 * this module runs from lib/ (tsx, tests) or from dist/lib/ (compiled): packageRoot() walks up to
 * binding.gyp from either.
 */
export function kernelQuiesceScript(): string {
  return path.join(packageRoot(), 'lib', 'bench', 'kernel-quiesce.py');
}

/** How long start() waits for the helper's "ready" (it makes a TAP and two sockets). */
const READY_TIMEOUT_MS = 10_000;

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
  private stopped = false;

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
    this.hold(false);
  }

  /** Whether the helper keeps the event loop alive: only while a reply is awaited. */
  private hold(on: boolean): void {
    // Piped stdio are net.Sockets; ChildProcess types them as plain streams.
    for (const s of [this.child.stdin, this.child.stdout, this.child.stderr] as unknown as Socket[]) {
      if (on) s.ref?.();
      else s.unref?.();
    }
    if (on) this.child.ref();
    else this.child.unref();
  }

  /** Starts the helper with a TAP named `ifname` whose queue holds `maxDepth` frames. */
  static async start(ifname: string, maxDepth: number): Promise<KernelQuiesce> {
    const txqlen = Math.max(1000, maxDepth + 64);
    const script = kernelQuiesceScript();
    if (!fs.existsSync(script))
      throw new CondisError('ERR_CONDIS_BENCH_FAILED', `kernel quiesce helper: ${script} not found`);
    const child = spawn('python3', [script, ifname, String(txqlen)], { stdio: 'pipe' });
    const k = new KernelQuiesce(ifname, child);
    let first: string;
    try {
      first = await k.line(READY_TIMEOUT_MS);
    } catch (e) {
      k.stop();
      throw e;
    }
    if (first !== 'ready') {
      k.stop();
      throw new CondisError('ERR_CONDIS_BENCH_FAILED', first.replace(/^err /, 'kernel quiesce helper: '));
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
    if (!m)
      throw new CondisError('ERR_CONDIS_BENCH_FAILED', reply.replace(/^err /, 'kernel quiesce helper: '));
    return {
      ns: Number(m[1]),
      sent: Number(m[2]),
      readable: Number(m[3]),
      txDropped: this.stat('tx_dropped') - txBefore,
      rxDropped: this.stat('rx_dropped') - rxBefore,
    };
  }

  /** Ends the helper (its TAP goes with it); SIGKILL if it has not exited 2 s later. Idempotent. */
  stop(): void {
    if (this.stopped) return;
    this.stopped = true;
    this.hold(false);
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

  /** The next line of the helper; the helper holds the event loop until it comes. */
  private line(timeoutMs = 0): Promise<string> {
    if (this.exited) return Promise.resolve(`err ${this.exited}`);
    if (this.stopped) return Promise.resolve('err kernel quiesce helper: stopped');
    this.hold(true);
    return new Promise((resolve, reject) => {
      const t =
        timeoutMs > 0
          ? setTimeout(() => {
              this.waiting = null;
              this.hold(false);
              reject(
                new CondisError(
                  'ERR_CONDIS_BENCH_FAILED',
                  `kernel quiesce helper: no answer in ${timeoutMs} ms`,
                ),
              );
            }, timeoutMs)
          : undefined;
      this.waiting = (line) => {
        clearTimeout(t);
        this.hold(false);
        resolve(line);
      };
    });
  }
}
