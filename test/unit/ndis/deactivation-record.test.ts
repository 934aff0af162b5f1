// Issue 11 point 3: every VC deactivation NDIS runs yields a DeactivationRecord (begin, drain end,
// completion on the Ndis clock, what was in flight at begin), to Ndis.onDeactivation subscribers
// and the observer. ManualClock: the times are exact.
import { describe, expect, it } from 'vitest';
import { type DeactivationRecord, NDIS_STATUS_REQUEST_ABORTED, NDIS_STATUS_SUCCESS } from '../../../lib/ndis';
import { Harness } from '../../conformance/harness';

describe('DeactivationRecord', () => {
  it('times a drain with sends held in the miniport and receives held by the client', () => {
    const h = new Harness({ mode: 'async' });
    const vc = h.outgoingCall();
    h.send(vc, 3); // held by the miniport
    h.mp.indicate(h.mp_(vc), 2); // held by the client (no RESOURCES flag)
    h.settle();
    const byClient: DeactivationRecord[] = [];
    const byMiniport: DeactivationRecord[] = [];
    const all: DeactivationRecord[] = [];
    h.ndis.onDeactivation((r) => byClient.push(r), h.cl_(vc));
    h.ndis.onDeactivation((r) => byMiniport.push(r), h.mp_(vc)); // any party's handle names the VC
    const off = h.ndis.onDeactivation((r) => all.push(r));
    // The miniport pends and completes later; its sends finish on the wire (not aborted).
    h.mp.deactivateBehaviour = 'hang';
    h.clock.advance(10);
    h.ndis.cmDeactivateVc(h.cm_(vc));
    h.settle();
    h.clock.advance(5); // t = 15
    h.mp.completeSends();
    h.settle();
    h.clock.advance(7); // t = 22: the last held receive comes back, the count is zero
    h.cl.returnReceives();
    h.settle();
    expect(byClient).toEqual([]); // not complete until the miniport says so
    h.clock.advance(8); // t = 30
    h.ndis.mCoDeactivateVcComplete(NDIS_STATUS_SUCCESS, h.mp_(vc));
    h.settle();
    const want: DeactivationRecord = {
      vcHandle: h.cl_(vc),
      begin: 10,
      drained: 22,
      completed: 30,
      inFlight: { sends: 3, receives: 2 },
      status: NDIS_STATUS_SUCCESS,
    };
    expect(byClient).toEqual([want]);
    expect(byMiniport).toEqual([want]);
    expect(all).toEqual([want]);
    off();
    expect(h.violations()).toEqual([]);
  });

  it('nothing outstanding: drained is begin; an unsubscribed listener hears nothing', () => {
    const h = new Harness({ mode: 'sync' });
    const vc = h.outgoingCall();
    const recs: DeactivationRecord[] = [];
    const gone: DeactivationRecord[] = [];
    h.ndis.onDeactivation((r) => recs.push(r), h.cl_(vc));
    h.ndis.onDeactivation((r) => gone.push(r))();
    h.clock.advance(4);
    h.closeCall(vc);
    expect(recs).toHaveLength(1);
    expect(recs[0]).toMatchObject({
      begin: 4,
      drained: 4,
      completed: 4,
      inFlight: { sends: 0, receives: 0 },
    });
    expect(gone).toEqual([]);
  });

  it('a deactivation aborted at its deadline: drained undefined, status REQUEST_ABORTED', () => {
    const h = new Harness({ mode: 'async', deadlineMs: 100, verifier: 'report' });
    const vc = h.outgoingCall();
    h.send(vc, 1);
    h.mp.deactivateBehaviour = 'hang';
    const recs: DeactivationRecord[] = [];
    h.ndis.onDeactivation((r) => recs.push(r));
    h.ndis.cmDeactivateVc(h.cm_(vc));
    h.clock.advance(100);
    h.settle();
    expect(recs).toEqual([
      {
        vcHandle: h.cl_(vc),
        begin: 0,
        drained: undefined,
        completed: 100,
        inFlight: { sends: 1, receives: 0 },
        status: NDIS_STATUS_REQUEST_ABORTED,
      },
    ]);
  });

  it('a listener that throws does not disturb NDIS (rethrown on a microtask)', async () => {
    const h = new Harness({ mode: 'sync' });
    const vc = h.outgoingCall();
    const seen: DeactivationRecord[] = [];
    h.ndis.onDeactivation(() => {
      throw new Error('listener bug');
    });
    h.ndis.onDeactivation((r) => seen.push(r));
    const thrown: unknown[] = [];
    const onUncaught = (e: unknown) => thrown.push(e);
    process.prependListener('uncaughtException', onUncaught);
    try {
      expect(h.closeCall(vc)).toBe(NDIS_STATUS_SUCCESS);
      expect(seen).toHaveLength(1);
      await new Promise((r) => setImmediate(r));
    } finally {
      process.off('uncaughtException', onUncaught);
    }
    expect(thrown.map((e) => (e as Error).message)).toEqual(['listener bug']);
  });
});
