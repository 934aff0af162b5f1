/**
 * The kernel's own quiesce of a TAP, as the comparison for `condis bench drain`: a TAP that
 * nobody reads gets `depth` frames queued towards its reader (sent into the interface through an
 * AF_PACKET socket, they wait in the tun's ring), then the interface is taken down with
 * ioctl(SIOCSIFFLAGS) and the time of that ioctl is measured.
 *
 * Node has no ioctl, and a process per iteration would measure fork/exec, so ONE python3 helper
 * process owns the TAP, the control socket and the packet socket, and answers one command per
 * line on stdin/stdout; it times the ioctl itself with clock_gettime(CLOCK_MONOTONIC) so that
 * neither the pipe nor Node's event loop is in the measured span. python3 rather than a C helper
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

const HELPER = String.raw`
import fcntl, os, socket, struct, sys, time
name = sys.argv[1]
bname = name.encode()
TUNSETIFF = 0x400454ca; IFF_TAP = 0x2; IFF_NO_PI = 0x1000
SIOCSIFFLAGS = 0x8914; SIOCSIFTXQLEN = 0x8943; IFF_UP = 0x1
try:
    fd = os.open('/dev/net/tun', os.O_RDWR | os.O_NONBLOCK)
    fcntl.ioctl(fd, TUNSETIFF, struct.pack('16sH22x', bname, IFF_TAP | IFF_NO_PI))
    ctl = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        with open('/proc/sys/net/ipv6/conf/%s/disable_ipv6' % name, 'w') as f:
            f.write('1')  # no router solicitations or DAD frames in the queue we measure
    except OSError:
        pass
    fcntl.ioctl(ctl, SIOCSIFTXQLEN, struct.pack('16si12x', bname, int(sys.argv[2])))
    up = struct.pack('16sH14x', bname, IFF_UP)
    down = struct.pack('16sH14x', bname, 0)
    fcntl.ioctl(ctl, SIOCSIFFLAGS, up)
    ps = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
    ps.bind((name, 0))
except Exception as e:
    sys.stdout.write('err %s\n' % e); sys.stdout.flush(); sys.exit(1)
frame = b'\xff' * 6 + b'\x02\x00\x00\x00\x00\x01' + b'\x88\xb5' + bytes(50)
clock = time.clock_gettime_ns; MONO = time.CLOCK_MONOTONIC; ioctl = fcntl.ioctl
sys.stdout.write('ready\n'); sys.stdout.flush()
for line in sys.stdin:
    cmd = line.split()
    if not cmd or cmd[0] == 'x':
        break
    try:
        depth = int(cmd[1])
        ioctl(ctl, SIOCSIFFLAGS, up)
        sent = 0
        for _ in range(depth):
            sent += 1 if ps.send(frame) == len(frame) else 0
        t0 = clock(MONO)
        ioctl(ctl, SIOCSIFFLAGS, down)
        t1 = clock(MONO)
        readable = 0
        while True:
            try:
                os.read(fd, 65536)
                readable += 1
            except BlockingIOError:
                break
        sys.stdout.write('ok %d %d %d\n' % (t1 - t0, sent, readable))
    except Exception as e:
        sys.stdout.write('err %s\n' % e)
    sys.stdout.flush()
`;

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
    const child = spawn('python3', ['-c', HELPER, ifname, String(txqlen)], { stdio: 'pipe' });
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
