// A TCP connection through condis (issue 13, point 6): 100 MB of random bytes sent from one
// namespace to the other across two TAPs forwarded by condis (the bench tcp rig, lib/bench/tcp):
// the raw FramePort path and the NDIS path (reference miniport + bridge: RSC in, LSO out), each
// with offloads off and on; the sha256 the receiver computes matches the sender's.
import { spawn } from 'node:child_process';
import { afterAll, describe, expect, it } from 'vitest';
import { SERVER_ADDR } from '../../lib/bench/tcp/iperf';
import { TcpRig } from '../../lib/bench/tcp/rig';
import { tapTestsEnabled } from '../helpers/privilege';

const BYTES = 100 * 1024 * 1024;
const PORT = 7913;

// Receiver: accepts one connection, hashes everything, prints the hex digest and the byte count.
const SERVER = `
const net = require('node:net'), crypto = require('node:crypto');
const srv = net.createServer((s) => {
  const h = crypto.createHash('sha256'); let n = 0;
  s.on('data', (d) => { h.update(d); n += d.length; });
  s.on('end', () => { process.stdout.write(h.digest('hex') + ' ' + n + '\\n'); srv.close(); });
});
srv.listen(${PORT}, '${SERVER_ADDR}', () => process.stdout.write('listening\\n'));
`;
// Sender: 100 MB of random bytes in 1 MiB chunks, hashed as they go.
const CLIENT = `
const net = require('node:net'), crypto = require('node:crypto');
const h = crypto.createHash('sha256'); let left = ${BYTES};
const s = net.connect(${PORT}, '${SERVER_ADDR}', function pump() {
  while (left > 0) {
    const c = crypto.randomBytes(Math.min(left, 1 << 20)); left -= c.length; h.update(c);
    if (!s.write(c)) { s.once('drain', pump); return; }
  }
  s.end(() => process.stdout.write(h.digest('hex') + ' ${BYTES}\\n'));
});
`;

function nodeIn(ns: string, script: string, onOut?: (s: string) => void): Promise<string> {
  const c = spawn('ip', ['netns', 'exec', ns, process.execPath, '-e', script], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  let err = '';
  c.stdout.on('data', (d) => {
    out += d;
    onOut?.(out);
  });
  c.stderr.on('data', (d) => {
    err += d;
  });
  const t = setTimeout(() => c.kill('SIGKILL'), 100_000);
  return new Promise((resolve, reject) =>
    c.once('close', (code) => {
      clearTimeout(t);
      if (code === 0) resolve(out);
      else reject(new Error(`node in ${ns}: exit ${code}: ${err}`));
    }),
  );
}

describe.runIf(tapTestsEnabled('tcp transfer through condis'))('100 MB over TCP through condis', () => {
  let rig: TcpRig | null = null;
  afterAll(() => rig?.cleanupSync());

  for (const [kind, offload] of [
    ['port', false],
    ['port', true],
    ['ndis', false],
    ['ndis', true],
  ] as const) {
    it(`sha256 matches at both ends, condis-${kind}, offloads ${offload ? 'on' : 'off'}`, async () => {
      rig ??= new TcpRig(null);
      await rig.up({ kind, offload });
      try {
        let listening!: () => void;
        const ready = new Promise<void>((r) => {
          listening = r;
        });
        const server = nodeIn(rig.a.name, SERVER, (o) => {
          if (o.includes('listening')) listening();
        });
        await ready;
        const sent = (await nodeIn(rig.b.name, CLIENT)).trim();
        const got = (await server).replace('listening\n', '').trim();
        expect(sent).toMatch(/^[0-9a-f]{64} 104857600$/);
        expect(got).toBe(sent);
      } finally {
        const stats = await rig.down();
        // The frames really crossed condis: the forwarder counted them (the NDIS bridge per direction).
        const count = (v: unknown) =>
          Number(typeof v === 'object' && v !== null ? (v as { forwarded: number }).forwarded : v);
        expect(count(stats?.aToB ?? 0) + count(stats?.bToA ?? 0)).toBeGreaterThan(
          kind === 'ndis' && offload ? 100 : 1000,
        );
      }
    }, 120_000);
  }
});
