import { describe, expect, it } from 'vitest';
import {
  CondisError,
  makeCallParameters,
  microtaskScheduler,
  NDIS_STATUS_INVALID_DATA,
  NDIS_STATUS_NOT_ACCEPTED,
  NDIS_STATUS_PENDING,
  NDIS_STATUS_SUCCESS,
  Ndis,
} from '../../../lib/ndis';
import { kVerifierKept } from '../../../lib/ndis/verifier';
import { Harness } from '../../conformance/harness';

describe('Promise conveniences', () => {
  it('settle with the final status, sync or pended', async () => {
    for (const mode of ['sync', 'async'] as const) {
      const h = new Harness({ mode });
      const vc = h.createCmVc().vc!;
      h.mp.activateStatus = NDIS_STATUS_INVALID_DATA;
      const p = h.ndis.cmActivateVcAsync(vc, makeCallParameters());
      h.settle();
      await expect(p).resolves.toBe(NDIS_STATUS_INVALID_DATA);
    }
  });

  it('settle with a refusal', async () => {
    const h = new Harness({ mode: 'sync' });
    const vc = h.createCmVc().vc!;
    await expect(h.ndis.cmDeactivateVcAsync(vc)).resolves.toBe(NDIS_STATUS_NOT_ACCEPTED);
  });

  it('with the default microtask scheduler, completions arrive in a later turn', async () => {
    const h = new Harness({ mode: 'async' });
    const nd = new Ndis({ scheduler: microtaskScheduler });
    expect(nd.scheduler).toBe(microtaskScheduler);
    void h;
  });
});

describe('verifier errors', () => {
  it('are CondisError with a stable code and the VC in the message', () => {
    const h = new Harness({ mode: 'async' });
    const vc = h.outgoingCall();
    let err: unknown;
    try {
      h.ndis.mCoActivateVcComplete(NDIS_STATUS_SUCCESS, h.mp_(vc));
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(CondisError);
    expect((err as CondisError).code).toBe('ERR_CONDIS_E20');
    expect((err as CondisError).vc).toMatchObject({
      activation: 'ACTIVE',
      call: 'CONNECTED',
      txInMiniport: 0,
    });
    expect((err as Error).message).toMatch(/vc \d+ .*A=ACTIVE C=CONNECTED txInMiniport=0 rxHeld=0/);
  });

  it('onViolation sees every report; off mode records nothing', () => {
    const seen: string[] = [];
    const nd = new Ndis({ verifier: 'report', onViolation: (e) => seen.push(e.code) });
    expect(nd.verifier.mode).toBe('report');
    nd.verifier.report('ERR_CONDIS_E1', 'x');
    expect(seen).toEqual(['ERR_CONDIS_E1']);
    const off = new Ndis({ verifier: 'off' });
    off.verifier.flag('ERR_CONDIS_E1', 'x');
    expect(off.verifier.violations).toEqual([]);
  });

  // A long run whose deadline keeps firing (a 10-minute soak reports ~180 DRAIN_TIMEOUTs) must not
  // grow the verifier without bound: the first kVerifierKept are kept, every one is counted and
  // still reaches onViolation.
  it('keeps the first kVerifierKept breaks and counts every one', () => {
    let seen = 0;
    const nd = new Ndis({ verifier: 'report', onViolation: () => seen++ });
    for (let i = 0; i < kVerifierKept + 500; i++) nd.verifier.report('ERR_CONDIS_DRAIN_TIMEOUT', `#${i}`);
    expect(nd.verifier.violations).toHaveLength(kVerifierKept);
    expect(nd.verifier.violations[0]!.message).toContain('#0');
    expect(nd.verifier.count).toBe(kVerifierKept + 500);
    expect(seen).toBe(kVerifierKept + 500);
  });

  it('NdisCm* on an MCM VC is ERR_CONDIS_WRONG_VARIANT (spec §5 C4)', () => {
    const h = new Harness({ mode: 'sync', mcm: true });
    const vc = h.createCmVc().vc!;
    expect(() => h.ndis.cmActivateVc(vc, makeCallParameters())).toThrow(
      expect.objectContaining({ code: 'ERR_CONDIS_WRONG_VARIANT' }),
    );
    void NDIS_STATUS_PENDING;
  });

  it('halting a miniport with VCs present is ERR_CONDIS_VCS_PRESENT (U10)', () => {
    const h = new Harness({ mode: 'sync' });
    h.createClientVc();
    expect(() => h.ndis.deregisterMiniport(h.mpHandle)).toThrow(
      expect.objectContaining({ code: 'ERR_CONDIS_VCS_PRESENT' }),
    );
  });
});
