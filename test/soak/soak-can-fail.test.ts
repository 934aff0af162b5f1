// A soak that cannot fail proves nothing: each test hooks a deliberately broken driver into the
// real stack (MiniportAdapter's handlers, wrapped as NDIS registers them) and checks that the soak
// reports it, under the check that should catch it.
import { describe, expect, it } from 'vitest';
import type { MiniportVc } from '../../lib/miniport/vc';
import type { MiniportCoHandlers } from '../../lib/ndis/actors';
import type { NetBufferList } from '../../lib/ndis/nbl';
import type { Ndis } from '../../lib/ndis/ndis';
import { NDIS_STATUS_PENDING, NDIS_STATUS_SUCCESS } from '../../lib/ndis/status';
import { type SoakOptions, soak } from '../../lib/scenarios/soak';

type Wrap = NonNullable<SoakOptions['miniportHandlers']>;

/** A short soak on the wire with a broken miniport; a short deadline so hung drains end soon. */
async function broken(wrap: Wrap) {
  return soak({ backend: 'wire', seconds: 2, seed: 11, deadlineMs: 300, miniportHandlers: wrap });
}

/** Calls `f` on the n-th call of a handler, the real handler otherwise. */
function onNth<A extends unknown[]>(n: number, real: (...a: A) => void, f: (...a: A) => void) {
  let k = 0;
  return (...a: A) => (++k === n ? f(...a) : real(...a));
}

describe('the soak fails when the driver breaks a rule', () => {
  it('a send completed twice: the verifier (E59) and the report say so', async () => {
    const wrap: Wrap = (h: MiniportCoHandlers, ndis: Ndis) => ({
      ...h,
      coSendNetBufferLists: onNth(200, h.coSendNetBufferLists.bind(h), (vc, nbls, flags) => {
        const first = nbls;
        const rest = first.next;
        first.next = null;
        first.status = NDIS_STATUS_SUCCESS;
        const handle = (vc as MiniportVc).ndisVcHandle;
        ndis.mCoSendNetBufferListsComplete(handle, first, 0);
        ndis.mCoSendNetBufferListsComplete(handle, first, 0);
        if (rest) h.coSendNetBufferLists(vc, rest, flags);
      }),
    });
    const r = await broken(wrap);
    expect(r.passed).toBe(false);
    expect(r.violations.map((v) => v.code)).toContain('ERR_CONDIS_E59');
  }, 60_000);

  it('a send the miniport never completes: counts disagree, and it never completes', async () => {
    const wrap: Wrap = (h) => ({
      ...h,
      coSendNetBufferLists: onNth(200, h.coSendNetBufferLists.bind(h), (vc, nbls, flags) => {
        // Drop the last NBL of the list on the floor.
        if (nbls.next) {
          let p: NetBufferList = nbls;
          while (p.next!.next) p = p.next!;
          p.next = null;
        }
        h.coSendNetBufferLists(vc, nbls, flags);
      }),
    });
    const r = await broken(wrap);
    expect(r.passed).toBe(false);
    expect(r.violationsByCheck['count-mismatch']).toBeGreaterThan(0);
    expect(r.violationsByCheck['send-never-completed']).toBeGreaterThan(0);
    expect(r.violations.find((v) => v.check === 'count-mismatch')!.message).toMatch(
      /sends: NDIS \d+ in the miniport, miniport \d+ in flight/,
    );
  }, 60_000);

  it('a returned receive the miniport loses: counts disagree, and the drain hangs until its deadline', async () => {
    const wrap: Wrap = (h) => ({
      ...h,
      returnNetBufferLists: onNth(200, h.returnNetBufferLists.bind(h), (ad, nbls, flags) => {
        const rest = nbls.next;
        nbls.next = null; // the first NBL is never re-posted nor counted back
        if (rest) h.returnNetBufferLists(ad, rest, flags);
      }),
    });
    const r = await broken(wrap);
    expect(r.passed).toBe(false);
    expect(r.violations.find((v) => v.check === 'count-mismatch')!.message).toMatch(
      /receives: NDIS counts \d+ held, miniport \d+/,
    );
  }, 60_000);

  it('a deactivation reported SUCCESS with work outstanding: the verifier (E43) says so', async () => {
    const wrap: Wrap = (h) => {
      let n = 0;
      return {
        ...h,
        coDeactivateVc: (vc) => {
          const st = h.coDeactivateVc!(vc);
          return st === NDIS_STATUS_PENDING && ++n === 2 ? NDIS_STATUS_SUCCESS : st;
        },
      };
    };
    const r = await broken(wrap);
    expect(r.passed).toBe(false);
    expect(r.violations.map((v) => v.code)).toContain('ERR_CONDIS_E43');
  }, 60_000);
});
