/**
 * `condis trace`: runs one VC flow on the wire backend
 * (lib/scenarios/trace-flows.ts) and prints the NDIS sequence it recorded — as a Mermaid sequence
 * diagram (the default; it draws the matching diagram of spec §3) or as the trace's JSON events.
 */
import { FLOWS, type Flow, runTraceFlow } from '../scenarios/trace-flows';
import { UsageError, type Values } from './usage';

/** Runs the flow named by the one positional, options parsed (main.ts, commands.ts). */
export async function trace(values: Values, positionals: string[]): Promise<number> {
  if (values.mermaid && values.json) throw new UsageError('choose one of --mermaid and --json');
  if (positionals.length !== 1) throw new UsageError(`name one flow: ${FLOWS.join(', ')}`);
  const flow = positionals[0] as Flow;
  if (!FLOWS.includes(flow)) throw new UsageError(`unknown flow "${flow}" (flows: ${FLOWS.join(', ')})`);
  const { vcSlot, trace: t } = await runTraceFlow(flow);
  if (values.json) {
    process.stdout.write(`${JSON.stringify({ flow, vc: vcSlot, events: t.toJSON() }, null, 2)}\n`);
  } else {
    process.stdout.write(t.toMermaid(vcSlot !== undefined ? { vc: vcSlot } : {}));
  }
  return 0;
}
