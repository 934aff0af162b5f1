import { describe, expect, it } from 'vitest';
import {
  makeCallParameters,
  NDIS_STATUS_NOT_SUPPORTED,
  NDIS_STATUS_PENDING,
  NDIS_STATUS_SUCCESS,
  statusName,
} from '../../lib/ndis';
import { Harness, MODES } from './harness';

// E26: when ProtocolClIncomingCall pends, ProtocolCmIncomingCallComplete fires exactly once,
// after NdisClIncomingCallComplete, with the client's status. A final answer needs no completion.
describe.each(MODES)('E26 incoming call answer (%s)', (mode) => {
  it.each([[NDIS_STATUS_SUCCESS], [NDIS_STATUS_NOT_SUPPORTED]])('answer 0x%s', (answer) => {
    const h = new Harness({ mode });
    h.cm.autoConnect = false;
    h.cl.offerAnswer = answer;
    const vc = h.activeCmVc();
    const st = h.cm.dispatchIncomingCall(vc, makeCallParameters());
    expect(st).toBe(mode === 'sync' ? answer : NDIS_STATUS_PENDING);
    h.settle();
    if (mode === 'sync') expect(h.count('CM.cmIncomingCallComplete')).toBe(0);
    else {
      expect(h.entries('CM.cmIncomingCallComplete')).toEqual([
        `CM.cmIncomingCallComplete:${statusName(answer)}`,
      ]);
      const trace = h.ndis.trace!.names();
      expect(trace.indexOf('NdisClIncomingCallComplete')).toBeLessThan(
        trace.indexOf('ProtocolCmIncomingCallComplete'),
      );
    }
    expect(h.info(vc).call).toBe(answer === NDIS_STATUS_SUCCESS ? 'ACCEPTED' : 'IDLE');
  });
});
