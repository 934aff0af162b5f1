/**
 * Child of cold-drain.ts: ONE deactivation, the first of this process (no warm-up), at the depth
 * argv[3] on the backend argv[2], through the drain benchmark's own rig, with its CPU-wait
 * attribution (one iteration: its /proc reads fall outside the measured span); prints one JSON
 * line { depth, drainUs, overheadUs, runQueueUs, otherThreadsUs } on stdout. argv[4]: warmUp()'s
 * deactivations to run first (0: none).
 */
import { runDrainBench } from './drain-bench';
import { warmUp } from './warm-up';

const backend = process.argv[2] === 'tap' ? 'tap' : 'wire';
const depth = Number(process.argv[3] ?? 1);
const warm = Number(process.argv[4] ?? 0);

// With argv[4] > 0, warmUp() runs that many deactivations on its own pair first: what a program
// that calls it at start sees at its first deactivation, on a runtime and devices of its own.
(warm > 0 ? warmUp({ deactivations: warm }) : Promise.resolve())
  .then(() =>
    runDrainBench({
      backend,
      depths: [depth],
      iterations: 1,
      warmup: 0,
      jitWarmup: 0,
      kernel: false,
      attribute: true,
    }),
  )
  .then((r) => {
    const row = r.rows[0];
    if (!row?.tail) throw new Error('no row');
    const t = row.tail;
    const sample = {
      depth,
      drainUs: row.drainUs.max,
      overheadUs: row.overheadUs.max,
      runQueueUs: t.runQueueUs,
      otherThreadsUs: t.otherThreadsUs,
    };
    process.stdout.write(`${JSON.stringify(sample)}\n`);
  })
  .catch((e: Error) => {
    process.stderr.write(`${e.message}\n`);
    process.exit(1);
  });
