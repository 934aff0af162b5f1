/**
 * iperf3 (Debian's /usr/bin/iperf3) as `condis bench tcp` runs it: a server in namespace A, a
 * client in namespace B, both through `ip netns exec`, the client's JSON (-J) read back.
 *
 *   tcp  -t N [-P 4]          Gbit/s the server received (end.sum_received)
 *   udp  -u -l 64 -b 0 -t N   64-byte datagrams per second the server received
 */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';

export const SERVER_ADDR = '10.77.0.1';
export const CLIENT_ADDR = '10.77.0.2';
const UDP_PAYLOAD = 64;

export type IperfTest = { kind: 'tcp'; streams: number } | { kind: 'udp' };

/** Why iperf3 cannot run here, or null. */
export function iperfMissing(): string | null {
  try {
    execFileSync('iperf3', ['--version'], { stdio: 'ignore' });
    return null;
  } catch {
    return 'no iperf3 (apt-get install -y iperf3)';
  }
}

/** Starts `iperf3 -s` in `ns` and resolves once it listens. */
export function startServer(ns: string, track: (c: ChildProcess) => void): Promise<ChildProcess> {
  const child = spawn('ip', ['netns', 'exec', ns, 'iperf3', '-s', '--forceflush'], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  track(child);
  let out = '';
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('iperf3 -s: not listening after 10 s')), 10_000);
    child.stdout.on('data', (d) => {
      out += d;
      if (out.includes('Server listening')) {
        clearTimeout(timer);
        resolve(child);
      }
    });
    child.stderr.on('data', (d) => {
      out += d;
    });
    child.once('close', (code) => {
      clearTimeout(timer);
      reject(new Error(`iperf3 -s exited (${code}): ${out.trim()}`));
    });
  });
}

/** One client run from `ns` to SERVER_ADDR; resolves with Gbit/s (tcp) or packets/s received (udp). */
export function runClient(
  ns: string,
  test: IperfTest,
  seconds: number,
  track: (c: ChildProcess) => void,
): Promise<number> {
  const args = ['-c', SERVER_ADDR, '-t', String(seconds), '-J', '--connect-timeout', '5000'];
  if (test.kind === 'tcp') args.push('-P', String(test.streams));
  else args.push('-u', '-l', String(UDP_PAYLOAD), '-b', '0');
  const child = spawn('ip', ['netns', 'exec', ns, 'iperf3', ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  track(child);
  let out = '';
  let err = '';
  child.stdout.on('data', (d) => {
    out += d;
  });
  child.stderr.on('data', (d) => {
    err += d;
  });
  // A path that stopped forwarding must not hang the benchmark.
  const timer = setTimeout(() => child.kill('SIGKILL'), (seconds + 20) * 1000);
  return new Promise((resolve, reject) => {
    child.once('close', (code, sig) => {
      clearTimeout(timer);
      let j: {
        error?: string;
        end?: { sum_received?: { bits_per_second: number; bytes: number; seconds: number } };
      };
      try {
        j = JSON.parse(out);
      } catch {
        reject(new Error(`iperf3 ${args.join(' ')}: exit ${sig ?? code}: ${err.trim() || 'no JSON'}`));
        return;
      }
      const r = j.end?.sum_received;
      if (j.error || !r) {
        reject(new Error(`iperf3 ${args.join(' ')}: ${j.error ?? 'no sum_received'}`));
        return;
      }
      if (test.kind === 'tcp') resolve(r.bits_per_second / 1e9);
      else resolve(r.seconds > 0 ? r.bytes / UDP_PAYLOAD / r.seconds : 0);
    });
  });
}
