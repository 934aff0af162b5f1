/**
 * `condis run`: checks its options (declared in commands.ts), calls lib/scenarios/frames.ts (two devices joined back to back,
 * frames moved both ways on an untagged and a VLAN-tagged pair) and renders its report: a table of
 * what was sent, received and lost, and every non-zero counter (or the report as JSON); --pcap
 * opens the file the frames are captured to. Ctrl-C stops the run early (an AbortSignal): 130.
 */
import { PcapWriter } from '../pcap/writer';
import { type FramesReport, runFrames } from '../scenarios/frames';
import { choice, errorText, intFlag, type Values } from './usage';

/** Runs the command with its options, parsed and its files checked (main.ts, commands.ts). */
export async function run(f: Values): Promise<number> {
  const backend = choice('backend', f.backend, ['auto', 'tap', 'wire'] as const, 'auto');
  const frames = intFlag('frames', f.frames, 100_000, 1, 100_000_000);
  const size = intFlag('size', f.size, 64, 60, 1514);
  const say = (s: string) => (f.json ? undefined : process.stdout.write(`${s}\n`));

  const pcap = typeof f.pcap === 'string' ? new PcapWriter(f.pcap) : null;
  const ac = new AbortController();
  const onSigint = () => ac.abort();
  process.once('SIGINT', onSigint);
  try {
    const result = await runFrames({
      backend,
      frames,
      size,
      signal: ac.signal,
      ...(pcap ? { capture: pcap } : {}),
      onStart: ({ note }) => say(`backend ${note}`),
      onRingError: (name, e) => process.stderr.write(`condis run: ${name}: ${errorText(e)}\n`),
    });
    if (f.json) {
      // Seconds to the millisecond, as the command always printed them.
      const json: FramesReport = { ...result, seconds: Number(result.seconds.toFixed(3)) };
      process.stdout.write(`${JSON.stringify(json, null, 2)}\n`);
    } else {
      render(result, say);
    }
    if (pcap) say(`pcap: ${pcap.frames} frames -> ${pcap.file}`);
    const lost = result.pairs.some((p) => p.aToB.lost !== 0 || p.bToA.lost !== 0);
    if (result.interrupted) return 130;
    return lost ? 1 : 0;
  } finally {
    process.off('SIGINT', onSigint);
    pcap?.close();
  }
}

function render(result: FramesReport, say: (s: string) => void): void {
  const secs = result.seconds;
  const size = result.frameSize;
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
