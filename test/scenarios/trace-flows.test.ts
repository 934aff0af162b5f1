// The trace flows called as a library (runTraceFlow): each returns the trace of its part of spec §3,
// in which nothing failed, every request a handler pended was completed, and the VC ends in the
// state the flow leads to (closed and idle, or active and connected again).
import { describe, expect, it } from 'vitest';
import { FLOWS, type Flow, runTraceFlow } from '../../lib/scenarios/trace-flows';
import { inOrder } from '../helpers/in-order';

const FIRST_AND_LAST: Record<Flow, [string, string, string]> = {
  'client-close': ['NdisClCloseCall', 'NdisMCoDeactivateVcComplete', 'ProtocolClCloseCallComplete'],
  'incoming-close': [
    'NdisCmDispatchIncomingCloseCall',
    'NdisMCoDeactivateVcComplete',
    'ProtocolClCloseCallComplete',
  ],
  'mcm-deactivate': ['NdisMCmDeactivateVc', 'NdisMCmCloseCallComplete', 'ProtocolClCloseCallComplete'],
  reactivate: ['NdisClModifyCallQoS', 'ProtocolCmModifyCallQoS', 'MiniportCoActivateVc'],
};

const END_STATE: Record<Flow, { activation: string; call: string }> = {
  'client-close': { activation: 'INACTIVE', call: 'IDLE' },
  'incoming-close': { activation: 'INACTIVE', call: 'IDLE' },
  'mcm-deactivate': { activation: 'INACTIVE', call: 'IDLE' },
  reactivate: { activation: 'ACTIVE', call: 'CONNECTED' },
};

describe('runTraceFlow (lib/scenarios/trace-flows)', () => {
  it.each(FLOWS)('%s: the trace of its spec §3 part, every pended request completed', async (flow) => {
    const r = await runTraceFlow(flow);
    expect(r.flow).toBe(flow);
    expect(typeof r.vcSlot).toBe('number');
    const events = r.trace.events;
    expect(events.length).toBeGreaterThan(0);
    const names = r.trace.names();
    expect(inOrder(names, FIRST_AND_LAST[flow]), names.join(' ')).toBe(true);
    // Nothing failed: every status recorded is SUCCESS or PENDING.
    const statuses = new Set(events.flatMap((e) => (e.status ? [e.status] : [])));
    for (const s of statuses) expect(['SUCCESS', 'PENDING']).toContain(s);
    // Every handler that returned PENDING was completed later (an Ndis*Complete call).
    const pended = events.filter((e) => e.kind === 'handler-return' && e.status === 'PENDING').length;
    const completed = events.filter((e) => e.kind === 'complete-call').length;
    expect(completed).toBe(pended);
    // The VC ends where the flow leads.
    const last = [...events].reverse().find((e) => e.vc === r.vcSlot && e.activation !== undefined);
    expect(last).toMatchObject(END_STATE[flow]);
  });

  it('reactivate never deactivates (spec §3.5: no deactivation first)', async () => {
    const r = await runTraceFlow('reactivate');
    expect(r.trace.names().filter((n) => n.includes('Deactivate'))).toEqual([]);
  });
});
