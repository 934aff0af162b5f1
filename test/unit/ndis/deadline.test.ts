import { describe, expect, it } from 'vitest';
import {
  type CondisError,
  NDIS_STATUS_REQUEST_ABORTED,
  NDIS_STATUS_SEND_ABORTED,
  NDIS_STATUS_SUCCESS,
} from '../../../lib/ndis';
import { Harness } from '../../conformance/harness';

// Issue point 6: a deactivation deadline (off by default) ends a hung drain with a failure status
// and a coded error; the miniport's coAbortVc hook gets a chance to abort first.
describe('deactivation deadline', () => {
  it('is off by default: a hung drain waits forever', () => {
    const h = new Harness({ mode: 'async' });
    const vc = h.outgoingCall();
    h.send(vc, 1);
    h.mp.deactivateBehaviour = 'hang';
    h.ndis.cmDeactivateVc(h.cm_(vc));
    h.clock.advance(3_600_000);
    h.settle();
    expect(h.info(vc).activation).toBe('DEACTIVATING');
    expect(h.clock.pendingTimers).toBe(0);
  });

  it('fails a hung drain with REQUEST_ABORTED and ERR_CONDIS_DRAIN_TIMEOUT', () => {
    const h = new Harness({ mode: 'async', deadlineMs: 1000 });
    const vc = h.outgoingCall();
    h.send(vc, 1);
    h.mp.deactivateBehaviour = 'hang';
    const errors: CondisError[] = [];
    h.ndis.verifier.mode = 'report';
    h.ndis.cmDeactivateVc(h.cm_(vc));
    h.clock.advance(999);
    h.settle();
    expect(h.info(vc).activation).toBe('DEACTIVATING');
    h.clock.advance(1);
    h.settle();
    errors.push(...h.ndis.verifier.violations);
    expect(errors.map((e) => e.code)).toEqual(['ERR_CONDIS_DRAIN_TIMEOUT']);
    expect(errors[0]!.message).toMatch(/txInMiniport=1/);
    expect(h.log).toContain('MP.coAbortVc');
    expect(h.entries('CM.cmDeactivateVcComplete')).toEqual(['CM.cmDeactivateVcComplete:REQUEST_ABORTED']);
    expect(h.info(vc).activation).toBe('ACTIVE'); // A11: a failed deactivation leaves the VC active
    void NDIS_STATUS_REQUEST_ABORTED;
  });

  it('a miniport that aborts in the hook completes the deactivation normally', () => {
    const h = new Harness({ mode: 'async', deadlineMs: 50, verifier: 'report' });
    const vc = h.outgoingCall();
    const [nbl] = h.send(vc, 1);
    h.mp.deactivateBehaviour = 'hang';
    h.mp.override.coAbortVc = (ctx) => {
      h.mp.abortSends(ctx as never);
      h.ndis.mCoDeactivateVcComplete(NDIS_STATUS_SUCCESS, ctx as never);
    };
    h.ndis.cmDeactivateVc(h.cm_(vc));
    h.clock.advance(50);
    h.settle();
    expect(nbl!.status).toBe(NDIS_STATUS_SEND_ABORTED);
    expect(h.entries('CM.cmDeactivateVcComplete')).toEqual(['CM.cmDeactivateVcComplete:SUCCESS']);
    expect(h.info(vc).activation).toBe('INACTIVE');
    expect(h.clock.pendingTimers).toBe(0);
  });

  it('the timer is cleared by a normal completion', () => {
    const h = new Harness({ mode: 'async', deadlineMs: 50 });
    const vc = h.outgoingCall();
    h.closeCall(vc);
    expect(h.clock.pendingTimers).toBe(0);
    expect(h.violations()).toEqual([]);
  });
});
