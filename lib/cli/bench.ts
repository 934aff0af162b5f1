/** `condis bench <name>`: dispatch to the benchmarks the CLI carries (drain, pps). */
import { benchDrain } from './bench-drain';
import { benchPps } from './bench-pps';
import { UsageError } from './usage';

const BENCHES: Record<string, { summary: string; run: (argv: string[]) => Promise<number> }> = {
  drain: { summary: 'VC deactivation latency with work in flight, vs the kernel', run: benchDrain },
  pps: { summary: 'frames per second through our rings, vs the C reference on a TAP loop', run: benchPps },
};

const HELP = `usage: condis bench <name> [options]

benchmarks:
${Object.entries(BENCHES)
  .map(([n, b]) => `  ${n.padEnd(8)} ${b.summary}`)
  .join('\n')}

example: condis bench drain --depths 0,16,1024 --json drain.json
example: sudo condis bench pps --backend tap --size 64 --json pps.json`;

export async function bench(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined || name === '--help' || name === '-h') {
    process.stdout.write(`${HELP}\n`);
    return name === undefined ? 2 : 0;
  }
  const b = BENCHES[name];
  if (!b) throw new UsageError(`unknown benchmark "${name}" (known: ${Object.keys(BENCHES).join(', ')})`);
  return b.run(rest);
}
