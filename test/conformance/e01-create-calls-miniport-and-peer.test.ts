import { describe, expect, it } from 'vitest';
import { NDIS_STATUS_SUCCESS } from '../../lib/ndis';
import { Harness } from './harness';

// E1: NdisCoCreateVc invokes MiniportCoCreateVc and the peer's ProtocolCoCreateVc exactly once
// each, and both have returned before NdisCoCreateVc returns (create is synchronous only).
describe('E1 NdisCoCreateVc calls the miniport and the peer once each, before returning', () => {
  it('client-created VC: MiniportCoCreateVc then the CM', () => {
    const h = new Harness({ mode: 'sync' });
    const { status, vc } = h.createClientVc();
    expect(status).toBe(NDIS_STATUS_SUCCESS);
    expect(vc).toBeDefined();
    expect(h.log).toEqual(['MP.coCreateVc', 'CM.coCreateVc']);
    expect(h.sched.pending).toBe(0);
    expect(h.info(vc!)).toMatchObject({ activation: 'INACTIVE', call: 'IDLE', creator: 'client' });
  });

  it('CM-created VC (incoming call): MiniportCoCreateVc then the SAP-owning client', () => {
    const h = new Harness({ mode: 'sync' });
    const { status, vc } = h.createCmVc();
    expect(status).toBe(NDIS_STATUS_SUCCESS);
    expect(h.log).toEqual(['MP.coCreateVc', 'CL.coCreateVc']);
    expect(h.info(vc!).creator).toBe('cm');
    // each party got its own handle of the same VC
    const hs = h.handles(vc!);
    expect(new Set([hs.cl, hs.cm, hs.mp]).size).toBe(3);
  });
});
