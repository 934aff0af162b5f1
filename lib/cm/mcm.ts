/**
 * CondisMcm: a miniport with an integrated call manager (MCM, spec §1.1): lib/miniport's
 * MiniportAdapter for the data path, the call control of call-control.ts for signalling, in one
 * driver registered with NdisMRegisterMiniportDriver (registerMcm) and
 * NdisMCmRegisterAddressFamilyEx.
 *
 * Signalling is internal and invisible to NDIS (spec §3.7, E67): it drives queue pair 0 of the
 * device directly (untagged frames, PortSignallingChannel): no NDIS VC, no handle, no
 * ProtocolCoCreateVc, no activation callback. Call VCs use the NdisMCm* requests: NdisMCmCreateVc /
 * NdisMCmDeleteVc for incoming calls, NdisMCmActivateVc once the MCM has programmed its NIC,
 * NdisMCmDeactivateVc once it has drained the VC (spec §2.4 last point), NdisMCmDispatch*,
 * NdisMCmMakeCallComplete, NdisMCmCloseCallComplete.
 *
 * Composition, not copy: the MCM embeds lib/miniport's MiniportAdapter through its reuse options
 * (the MCM's own CM<->miniport interface, which the spec leaves private, §1.1):
 * - `register`: the MCM registers with NdisMRegisterMiniportDriver as an MCM (ndis.registerMcm):
 *   NDIS gets the adapter's data-path handlers (MiniportCoSendNetBufferLists,
 *   MiniportReturnNetBufferLists, the deadline hook), and the MCM keeps the adapter's
 *   MiniportCoCreateVc/ActivateVc/DeactivateVc/DeleteVc to call itself (NDIS never calls an
 *   MCM's, spec §5 C7);
 * - `onDeactivated`: the end of a pended drain comes to the MCM, which then reports the VC
 *   inactive with NdisMCmDeactivateVc (never NdisMCoDeactivateVcComplete: NDIS did not ask);
 * - `untaggedPair: false`: pair 0 is the signalling channel's, so no call can be put on VID 0;
 * - the channel services pair 0 from an interrupt hook of the adapter (addInterruptHook).
 * Send completions and receive indications go from the adapter to NDIS directly.
 */
import type { Device } from '../device/device';
import { CondisError } from '../errors';
import { MiniportAdapter } from '../miniport/adapter';
import type { MiniportVc } from '../miniport/vc';
import type { MiniportCoHandlers, NdisMiniportHandle, NdisVcHandle } from '../ndis/actors';
import type { CoCallParameters } from '../ndis/call-parameters';
import type { Ndis } from '../ndis/ndis';
import {
  NDIS_STATUS_FAILURE,
  NDIS_STATUS_PENDING,
  NDIS_STATUS_SUCCESS,
  type NdisStatus,
} from '../ndis/status';
import { CmVc } from './call';
import { CallControl, type CallControlOptions, type CmAf, type CmSap } from './call-control';
import { PortSignallingChannel } from './channel';

export interface CondisMcmOptions extends CallControlOptions {
  /** Name registered with NDIS (default 'condis-mcm'). */
  name?: string;
}

/** The MCM's VC context: the call, and the embedded miniport's context of the VC. */
export class McmVc extends CmVc {
  mvc: MiniportVc | undefined;
}

export class CondisMcm extends CallControl {
  readonly adapter: MiniportAdapter;
  readonly handle: NdisMiniportHandle;
  readonly channel: PortSignallingChannel;
  /** The embedded miniport's handlers: the MCM's private MiniportCo* functions. */
  private miniport: MiniportCoHandlers | undefined;
  /** MCM VCs by the handle their miniport context carries (routes the end of a drain). */
  private readonly byHandle = new Map<NdisVcHandle, McmVc>();

  /** MiniportInitializeEx of the MCM: takes over `device` (pairs 1..N-1 for VCs, pair 0 for signalling). */
  constructor(ndis: Ndis, device: Device, opts: CondisMcmOptions) {
    super(ndis, opts);
    this.adapter = new MiniportAdapter(ndis, device, {
      untaggedPair: false,
      register: (handlers, adapter) => {
        this.miniport = handlers;
        return ndis.registerMcm(opts.name ?? 'condis-mcm', mcmMiniportHandlers(handlers), adapter);
      },
      onDeactivated: (mvc, status) => this.miniportDeactivated(mvc, status),
    });
    this.handle = this.adapter.handle;
    const st = ndis.mCmRegisterAddressFamily(this.handle, this.af, this.cmHandlers());
    if (st !== NDIS_STATUS_SUCCESS)
      throw new CondisError(
        'ERR_CONDIS_INVALID_ARG',
        `address family 0x${this.af.toString(16)} already registered`,
      );
    this.channel = new PortSignallingChannel(device, this.adapter);
    this.attach(this.channel);
  }

  /** MiniportHaltEx: stops signalling, releases pair 0, halts the miniport (no VC may be left). */
  async halt(): Promise<void> {
    this.stopSignalling();
    this.channel.close();
    await this.adapter.halt();
  }

  private get mp(): MiniportCoHandlers {
    if (!this.miniport) throw new Error('CondisMcm: the miniport did not register');
    return this.miniport;
  }

  /** The embedded miniport's VC context (MiniportCoCreateVc, called by the MCM itself). */
  private attachMiniportVc(v: McmVc): void {
    const r = this.mp.coCreateVc!(this.adapter, v.handle);
    v.mvc = (typeof r === 'number' ? undefined : r.context) as MiniportVc;
    this.byHandle.set(v.handle, v);
  }

  protected override newVc(handle: NdisVcHandle, creator: 'client' | 'cm'): CmVc {
    const v = new McmVc(handle, creator);
    // A client's VC (ProtocolCoCreateVc of the MCM): its miniport context exists from the start.
    if (creator === 'client') this.attachMiniportVc(v);
    return v;
  }

  protected override vcDeleted(v: CmVc): void {
    const m = v as McmVc;
    if (m.mvc) this.mp.coDeleteVc!(m.mvc);
    this.byHandle.delete(m.handle);
    m.mvc = undefined;
  }

  // NDIS requests of an MCM.

  /** NdisMCmCreateVc (the client's ProtocolCoCreateVc only), then the MCM's own miniport context. */
  protected createVc(af: CmAf, v: CmVc): NdisStatus {
    const r = this.ndis.mCmCreateVc(this.handle, af.handle, v);
    if (r.status !== NDIS_STATUS_SUCCESS || !r.vcHandle) return r.status;
    v.handle = r.vcHandle;
    this.attachMiniportVc(v as McmVc);
    return NDIS_STATUS_SUCCESS;
  }

  /** NdisMCmDeleteVc (the client's ProtocolCoDeleteVc), then the miniport context goes. */
  protected deleteVc(v: CmVc): NdisStatus {
    const st = this.ndis.mCmDeleteVc(v.handle);
    if (st === NDIS_STATUS_SUCCESS) this.vcDeleted(v);
    return st;
  }

  /**
   * Programs the NIC (the miniport's MiniportCoActivateVc: a queue pair bound to the VID), then
   * NdisMCmActivateVc tells NDIS the parameters in force. Synchronous.
   */
  protected activateVc(v: CmVc, params: CoCallParameters): NdisStatus {
    const mvc = (v as McmVc).mvc;
    if (!mvc) return NDIS_STATUS_FAILURE;
    const st = this.mp.coActivateVc!(mvc, params);
    if (st !== NDIS_STATUS_SUCCESS) return st;
    return this.ndis.mCmActivateVc(v.handle, params);
  }

  /**
   * Drains the VC on the NIC first (the miniport's MiniportCoDeactivateVc: sends completed, held
   * receives returned, spec §2.4), and only then NdisMCmDeactivateVc. PENDING while draining; the
   * end of the drain comes back through miniportDeactivated.
   */
  protected deactivateVc(v: CmVc): NdisStatus {
    const mvc = (v as McmVc).mvc;
    if (!mvc) return NDIS_STATUS_FAILURE;
    const st = this.mp.coDeactivateVc!(mvc);
    if (st === NDIS_STATUS_PENDING) return st;
    if (st !== NDIS_STATUS_SUCCESS) return st;
    return this.ndis.mCmDeactivateVc(v.handle);
  }

  /**
   * The embedded miniport's pended drain ended (its onDeactivated): SUCCESS (the pair is freed)
   * or REQUEST_ABORTED (the VC re-armed). Reported to NDIS in a later turn: the miniport calls
   * this from inside MiniportReturnNetBufferLists or its interrupt harvest, and
   * NdisMCmDeactivateVc should not run on that stack.
   */
  private miniportDeactivated(mvc: MiniportVc, status: NdisStatus): void {
    const v = this.byHandle.get(mvc.ndisVcHandle);
    if (!v) return;
    this.ndis.scheduler.schedule(() => {
      // A failed (aborted) drain: the miniport re-armed the VC; NDIS never saw it go (A11).
      const st = status === NDIS_STATUS_SUCCESS ? this.ndis.mCmDeactivateVc(v.handle) : status;
      this.deactivated(v, st);
    });
  }

  protected dispatchIncomingCall(sap: CmSap, v: CmVc, params: CoCallParameters): NdisStatus {
    return this.ndis.mCmDispatchIncomingCall(sap.handle, v.handle, params);
  }
  protected dispatchCallConnected(v: CmVc): void {
    this.ndis.mCmDispatchCallConnected(v.handle);
  }
  protected dispatchIncomingCloseCall(status: NdisStatus, v: CmVc): void {
    this.ndis.mCmDispatchIncomingCloseCall(status, v.handle);
  }
  protected makeCallComplete(status: NdisStatus, v: CmVc, params: CoCallParameters): void {
    this.ndis.mCmMakeCallComplete(status, v.handle, undefined, undefined, params);
  }
  protected closeCallComplete(status: NdisStatus, v: CmVc): void {
    this.ndis.mCmCloseCallComplete(status, v.handle);
  }
}

/**
 * What NDIS gets for the MCM's miniport side: the adapter's data path, with the MCM's VC context
 * (McmVc) unwrapped to the miniport's (MiniportVc). VC lifecycle handlers are left out: NDIS does
 * not call an MCM's (spec §1.1, §5 C7).
 */
function mcmMiniportHandlers(h: MiniportCoHandlers): MiniportCoHandlers {
  return {
    coSendNetBufferLists: (ctx, nbls, flags) => h.coSendNetBufferLists((ctx as McmVc).mvc, nbls, flags),
    returnNetBufferLists: h.returnNetBufferLists,
    coAbortVc: (ctx) => h.coAbortVc?.((ctx as McmVc).mvc),
  };
}
