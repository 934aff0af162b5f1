import { describe, expect, it } from 'vitest';
import {
  NDIS_STATUS_RESET_END,
  NDIS_STATUS_RESET_IN_PROGRESS,
  NDIS_STATUS_RESET_START,
  NDIS_STATUS_SUCCESS,
} from '../../lib/ndis';
import { Harness, MODES } from './harness';

// E65: during a NIC reset client sends complete with RESET_IN_PROGRESS, and VC handles remain
// valid after RESET_END.
describe.each(MODES)('E65 reset (%s)', (mode) => {
  it.each([['strict-core'], ['pass-through']] as const)('policy %s', (sendPolicy) => {
    const h = new Harness({ mode, sendPolicy });
    const vc = h.outgoingCall();
    h.ndis.mIndicateStatus(h.mpHandle, NDIS_STATUS_RESET_START);
    expect(h.cl.statuses).toEqual([NDIS_STATUS_RESET_START]);
    const [a] = h.send(vc, 1);
    h.settle();
    expect(a!.status).toBe(NDIS_STATUS_RESET_IN_PROGRESS);
    expect(h.mp.sent).toEqual([]);
    h.ndis.mIndicateStatus(h.mpHandle, NDIS_STATUS_RESET_END);
    expect(h.info(vc)).toMatchObject({ activation: 'ACTIVE', call: 'CONNECTED' });
    const [b] = h.send(vc, 1);
    h.mp.completeSends();
    h.settle();
    expect(b!.status).toBe(NDIS_STATUS_SUCCESS);
  });
});
