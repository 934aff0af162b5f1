/**
 * `condis run`: the main job for now. Two devices joined back to back — two real TAPs looped by the
 * kernel (tc mirred both ways) when this process may create TAPs, else the in-process wire — move
 * frames both ways on the untagged pair and on a VLAN-tagged pair, and the counters are printed.
 */
import type { Device } from '../device/device';
import { openTap, openWirePair, tapUnavailableReason } from '../device/open';
import { FramePort } from '../device/port';
import { ifStat, mirred, quiet } from '../host/tc';
import { PcapWriter } from '../pcap/writer';
import { choice, intFlag, parse, UsageError } from './usage';

const HELP = `usage: condis run [--backend auto|tap|wire] [--frames N] [--size BYTES] [--json] [--pcap FILE]

Moves N frames each way between two devices on queue pair 0 (untagged) and N/10 on
pair 1 (802.1Q VID 42), then prints what every counter saw.
  --backend  auto (default): two TAPs looped through the kernel if this process may create
             TAPs (CAP_NET_ADMIN), else the in-process wire; tap or wire to insist
  --frames   frames per direction on pair 0 (default 100000)
  --size     frame size in bytes, 60..1514 (default 64)
  --json     print the result as JSON instead of a table
  --pcap     write every frame delivered (both ways) to FILE in pcap format; frames of pair 1
             carry their 802.1Q tag (VID 42) as on the wire

example: sudo condis run --frames 1000000 --size 64`;

// Per port; a TAP's queue holds 1000 frames and two ports share each direction.
const WINDOW = 192;

interface Side {
  name: string;
  dev: Device;
  ports: FramePort[];
}

export async function run(argv: string[]): Promise<number> {
  const f = parse(argv, {
    backend: { type: 'string' },
    frames: { type: 'string' },
    size: { type: 'string' },
    json: { type: 'boolean' },
    pcap: { type: 'string' },
    help: { type: 'boolean', short: 'h' },
  });
  if (f.help) {
    process.stdout.write(`${HELP}\n`);
    return 0;
  }
  const backend = choice('backend', f.backend, ['auto', 'tap', 'wire'] as const, 'auto');
  const frames = intFlag('frames', f.frames, 100_000, 1, 100_000_000);
  const size = intFlag('size', f.size, 64, 60, 1514);
  if (f.pcap === '' || f.pcap === true) throw new UsageError('--pcap needs a file name');
  const say = (s: string) => (f.json ? undefined : process.stdout.write(`${s}\n`));

  let sides: [Side, Side];
  let note = '';
  const tapNames = [`condisA${process.pid % 100000}`, `condisB${process.pid % 100000}`] as const;
  const openSides = (): [Side, Side] => {
    if (backend !== 'wire') {
      try {
        const a = openTap({ name: tapNames[0], queuePairs: 2, queueSize: 1024, up: false });
        let b: Device;
        try {
          b = openTap({ name: tapNames[1], queuePairs: 2, queueSize: 1024, up: false });
        } catch (e) {
          a.destroy();
          throw e;
        }
        // Quiet (no IPv6) before the link comes up, so the kernel sends nothing of its own.
        for (const n of tapNames) quiet(n);
        a.setLink(true);
        b.setLink(true);
        mirred(tapNames[0], tapNames[1]);
        mirred(tapNames[1], tapNames[0]);
        note = `tap: ${tapNames[0]} <-> ${tapNames[1]} through the kernel (tc mirred both ways)`;
        return [side(tapNames[0], a), side(tapNames[1], b)];
      } catch (e) {
        const why = tapUnavailableReason(e);
        if (backend === 'tap' || why === null) throw e;
        note = `wire: in-process, because TAPs are unavailable here: ${why}`;
      }
    } else {
      note = 'wire: in-process (asked for)';
    }
    const [a, b] = openWirePair({ queuePairs: 2, queueSize: 1024 });
    return [side('wire/a', a), side('wire/b', b)];
  };
  sides = openSides();
  const [A, B] = sides;
  say(`backend ${note}`);
  // Each frame is captured once, where it was delivered: A -> B at B's ports, B -> A at A's.
  let pcap: PcapWriter | null = null;
  if (typeof f.pcap === 'string') {
    try {
      pcap = new PcapWriter(f.pcap);
    } catch (e) {
      await A.dev.close();
      await B.dev.close();
      throw e;
    }
    const w = pcap;
    for (const s of sides) {
      s.ports.forEach((p, k) => {
        const vid = k === 0 ? 0 : 42;
        p.onFrame = (bytes, off, len) => w.capture(bytes, off, len, vid);
      });
    }
  }

  let interrupted = false;
  const onSigint = () => {
    interrupted = true;
  };
  process.once('SIGINT', onSigint);
  try {
    for (const s of sides) {
      s.dev.bindPair(1, 42);
      for (const p of s.ports) p.postRx();
    }
    const template = new Uint8Array(size);
    template.set([0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02, 0, 0, 0, 0, 1, 0x88, 0xb5]);
    const goals = [frames, Math.max(1, Math.floor(frames / 10))];
    const t0 = process.hrtime.bigint();
    let lastProgress = Date.now();
    let lastTotal = 0;
    await new Promise<void>((resolve) => {
      const pump = () => {
        let total = 0;
        for (const s of sides) {
          const peer = s === A ? B : A;
          s.ports.forEach((p, k) => {
            // Pace like any sane sender: at most WINDOW frames ahead of what the peer has received,
            // so the kernel's TAP queue (txqueuelen 1000) is never overrun.
            const window = WINDOW - (p.sent - peer.ports[k]!.received);
            const left = Math.min(goals[k]! - p.sent, window);
            if (left > 0 && p.sendRepeated(template, left) > 0) p.flush();
            p.poll();
            total += p.received + p.txDone + p.txFailed;
          });
        }
        const done = sides.every((s) => s.ports.every((p, k) => p.txDone + p.txFailed === goals[k]));
        const received =
          B.ports.every((p, k) => p.received >= goals[k]!) &&
          A.ports.every((p, k) => p.received >= goals[k]!);
        if (total !== lastTotal) {
          lastTotal = total;
          lastProgress = Date.now();
        }
        if ((done && received) || interrupted || Date.now() - lastProgress > 2000) resolve();
        else setImmediate(pump);
      };
      pump();
    });
    const secs = Number(process.hrtime.bigint() - t0) / 1e9;
    const result = {
      backend: A.dev.backend,
      note,
      frameSize: size,
      seconds: Number(secs.toFixed(3)),
      interrupted,
      devices: sides.map((s) => ({ name: s.name, stats: s.dev.stats(), kernel: kernelStats(s) })),
      pairs: [0, 1].map((k) => ({
        pair: k,
        vid: k === 0 ? 0 : 42,
        aToB: {
          sent: A.ports[k]!.txDone,
          received: B.ports[k]!.received,
          lost: A.ports[k]!.txDone - B.ports[k]!.received,
        },
        bToA: {
          sent: B.ports[k]!.txDone,
          received: A.ports[k]!.received,
          lost: B.ports[k]!.txDone - A.ports[k]!.received,
        },
      })),
    };
    if (f.json) {
      process.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
    } else {
      const moved = result.pairs.reduce((n, p) => n + p.aToB.received + p.bToA.received, 0);
      say(
        `${moved} frames of ${size} bytes moved in ${secs.toFixed(3)} s (${(moved / secs / 1e6).toFixed(2)} Mpps both ways)`,
      );
      say('');
      say('pair  vid   direction   sent        received    lost');
      for (const p of result.pairs) {
        for (const [dir, v] of [
          ['A -> B', p.aToB],
          ['B -> A', p.bToA],
        ] as const) {
          say(
            `${String(p.pair).padEnd(6)}${String(p.vid).padEnd(6)}${dir.padEnd(12)}${String(v.sent).padEnd(12)}${String(v.received).padEnd(12)}${v.lost}`,
          );
        }
      }
      say('');
      say('device counters (non-zero):');
      for (const d of result.devices) {
        const s = d.stats;
        const top = Object.entries(s).filter(([k, v]) => k !== 'pairs' && typeof v === 'number' && v !== 0);
        say(`  ${d.name}: ${top.map(([k, v]) => `${k}=${v}`).join(' ')}${s.uring ? ' (io_uring)' : ''}`);
        s.pairs.forEach((p, k) => {
          const nz = Object.entries(p).filter(
            ([key, v]) => !['rxState', 'txState', 'vid'].includes(key) && v !== 0,
          );
          say(`    pair ${k}: ${nz.map(([key, v]) => `${key}=${v}`).join(' ')}`);
        });
        if (d.kernel)
          say(
            `    kernel ${d.name}: ${Object.entries(d.kernel)
              .map(([k, v]) => `${k}=${v}`)
              .join(' ')}`,
          );
      }
    }
    if (pcap) say(`pcap: ${pcap.frames} frames -> ${pcap.file}`);
    const lost = result.pairs.some((p) => p.aToB.lost !== 0 || p.bToA.lost !== 0);
    if (interrupted) return 130;
    return lost ? 1 : 0;
  } finally {
    process.off('SIGINT', onSigint);
    pcap?.close();
    await A.dev.close();
    await B.dev.close();
  }
}

function side(name: string, dev: Device): Side {
  const ports = [new FramePort(dev, 0), new FramePort(dev, 1)];
  dev.onInterrupt = () => {
    for (const p of ports) p.poll();
  };
  // A queue the device failed, or the driver stopped on an impossible used ring, moves nothing
  // more: say why, or the run would only end quiet with frames lost.
  dev.on('ringError', (e) => process.stderr.write(`condis run: ${name}: ${e.code}: ${e.message}\n`));
  return { name, dev, ports };
}

function kernelStats(s: Side): Record<string, number> | null {
  if (s.dev.backend !== 'tap') return null;
  const out: Record<string, number> = {};
  for (const k of ['rx_packets', 'tx_packets', 'rx_dropped', 'tx_dropped']) out[k] = ifStat(s.name, k);
  return out;
}

export { UsageError };
