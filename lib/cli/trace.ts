/**
 * `condis trace`: parses its flags, runs one VC flow on the wire backend
 * (lib/scenarios/trace-flows.ts) and prints the NDIS sequence it recorded — as a Mermaid sequence
 * diagram (the default; it draws the matching diagram of spec §3) or as the trace's JSON events.
 */
import { FLOWS, type Flow, runTraceFlow } from '../scenarios/trace-flows';
import { parse, UsageError } from './usage';

const HELP = `usage: condis trace [--mermaid|--json] <flow>

Runs a VC flow on the in-process wire backend (no privilege needed) and prints the NDIS calls,
handler invocations, completions and state changes it recorded.
  flows:     client-close    spec §3.2  NdisClCloseCall, the drain pends on a held receive
             incoming-close  spec §3.3  the call manager dispatches an incoming close
             mcm-deactivate  spec §3.4  an MCM deactivates the VC and tears the call down
             reactivate      spec §3.5a NdisClModifyCallQoS re-activates without deactivating
  --mermaid  a Mermaid sequenceDiagram (default)
  --json     the trace events as JSON

example: condis trace --mermaid client-close > close.mmd`;

export async function trace(argv: string[]): Promise<number> {
  let values: Partial<Record<string, string | boolean>>;
  const positionals = argv.filter((a) => !a.startsWith('-'));
  try {
    values = parse(
      argv.filter((a) => a.startsWith('-')),
      {
        mermaid: { type: 'boolean' },
        json: { type: 'boolean' },
        help: { type: 'boolean', short: 'h' },
      },
    );
  } catch (e) {
    throw e instanceof UsageError ? e : new UsageError(String(e));
  }
  if (values.help) {
    process.stdout.write(`${HELP}\n`);
    return 0;
  }
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
