/**
 * CondisCallManager: a stand-alone CoNDIS call manager (a protocol driver bound to a condis-tap
 * miniport) that sets up switched calls with a peer over the signalling protocol of
 * signalling.ts. It registers AF_CONDIS_SVC on its binding (NdisCmRegisterAddressFamilyEx);
 * clients open the AF, register a SAP to take calls, and make calls with condis call parameters
 * (the VID is the VC id both ends bind the call to).
 *
 *   const cm = new CondisCallManager(ndis, adapter.handle, { mac });
 *   await cm.start();          // the signalling VC (NdisCoCreateVc(AF=NULL), NdisCmActivateVc)
 *   ...                        // clients: NdisClOpenAddressFamilyEx, NdisClRegisterSap, NdisClMakeCall
 *   await cm.stop();           // clients must have closed their calls and AFs first
 *
 * The NDIS requests here are the stand-alone ones: NdisCoCreateVc / NdisCoDeleteVc for the VCs of
 * incoming calls (the AF handle from the SAP's registration), NdisCmActivateVc /
 * NdisCmDeactivateVc (the miniport's MiniportCoActivateVc / MiniportCoDeactivateVc run under
 * them, with the drain), NdisCmDispatch*, NdisCmMakeCallComplete, NdisCmCloseCallComplete.
 */
import { CondisError } from '../errors';
import type { NdisBindingHandle, NdisMiniportHandle, NdisProtocolHandle } from '../ndis/actors';
import type { CoCallParameters } from '../ndis/call-parameters';
import type { NetBufferList } from '../ndis/nbl';
import type { Ndis } from '../ndis/ndis';
import { NDIS_STATUS_SUCCESS, type NdisStatus, statusName } from '../ndis/status';
import type { CmVc } from './call';
import { CallControl, type CallControlOptions, type CmAf, type CmSap } from './call-control';
import { SIGNALLING_VID, SignallingVc } from './signalling-vc';

export interface CondisCallManagerOptions extends CallControlOptions {
  /** Name registered with NDIS (default 'condis-call-manager'). */
  name?: string;
  /**
   * VID of the signalling VC: default SIGNALLING_VID (0: untagged frames on queue pair 0); 1..4094
   * for frames tagged with that VID (see signalling-vc.ts). No call can then use that VID.
   */
  signallingVid?: number;
}

export class CondisCallManager extends CallControl {
  readonly protocol: NdisProtocolHandle;
  readonly binding: NdisBindingHandle;
  readonly signallingVc: SignallingVc;
  readonly channel: SignallingVc;

  /**
   * NdisRegisterProtocolDriver + NdisOpenAdapterEx + NdisCmRegisterAddressFamilyEx. Throws if the
   * address family is already registered on the miniport.
   */
  constructor(ndis: Ndis, miniport: NdisMiniportHandle, opts: CondisCallManagerOptions) {
    super(ndis, opts);
    this.protocol = ndis.registerProtocol(opts.name ?? 'condis-call-manager', {
      // The call manager's only data VC is its signalling VC.
      coSendNetBufferListsComplete: (_ctx, nbls: NetBufferList) => this.signallingVc.sendComplete(nbls),
      coReceiveNetBufferLists: (_b, _ctx, nbls, _n, flags) => this.signallingVc.receive(nbls, flags),
    });
    this.binding = ndis.openAdapter(this.protocol, miniport, this);
    this.signallingVc = new SignallingVc(ndis, this.binding, opts.signallingVid ?? SIGNALLING_VID);
    this.channel = this.signallingVc;
    const st = ndis.cmRegisterAddressFamily(this.binding, this.af, this.cmHandlers(), this);
    if (st !== NDIS_STATUS_SUCCESS) {
      ndis.closeAdapter(this.binding);
      throw new CondisError(
        'ERR_CONDIS_INVALID_ARG',
        `address family 0x${this.af.toString(16)} already registered`,
      );
    }
    this.attach(this.channel);
  }

  /** Creates and activates the signalling VC. Rejects (and leaves nothing behind) if it fails. */
  async start(): Promise<void> {
    const st = await this.signallingVc.open();
    if (st !== NDIS_STATUS_SUCCESS) {
      throw new CondisError(
        'ERR_CONDIS_INVALID_ARG',
        `signalling VC on VID ${this.signallingVc.vid} could not be activated: ${statusName(st)}`,
        { status: st, vid: this.signallingVc.vid },
      );
    }
  }

  /** Stops signalling, takes the signalling VC down and unbinds. Clients must be gone. Idempotent. */
  async stop(): Promise<void> {
    this.stopSignalling();
    await this.signallingVc.close();
    this.ndis.closeAdapter(this.binding);
  }

  // NDIS requests of a stand-alone call manager.

  /** NdisCoCreateVc with the client's AF handle (from its SAP registration): MiniportCoCreateVc + the client's ProtocolCoCreateVc. */
  protected createVc(af: CmAf, v: CmVc): NdisStatus {
    const r = this.ndis.coCreateVc(this.binding, af.handle, v);
    if (r.status === NDIS_STATUS_SUCCESS && r.vcHandle) v.handle = r.vcHandle;
    return r.status;
  }
  /** NdisCoDeleteVc: MiniportCoDeleteVc + the client's ProtocolCoDeleteVc. */
  protected deleteVc(v: CmVc): NdisStatus {
    return this.ndis.coDeleteVc(v.handle);
  }
  /** NdisCmActivateVc -> MiniportCoActivateVc; PENDING ends in ProtocolCmActivateVcComplete. */
  protected activateVc(v: CmVc, params: CoCallParameters): NdisStatus {
    return this.ndis.cmActivateVc(v.handle, params);
  }
  /** NdisCmDeactivateVc -> MiniportCoDeactivateVc (the drain); PENDING ends in ProtocolCmDeactivateVcComplete. */
  protected deactivateVc(v: CmVc): NdisStatus {
    return this.ndis.cmDeactivateVc(v.handle);
  }
  /** NdisCmDispatchIncomingCall -> ProtocolClIncomingCall. */
  protected dispatchIncomingCall(sap: CmSap, v: CmVc, params: CoCallParameters): NdisStatus {
    return this.ndis.cmDispatchIncomingCall(sap.handle, v.handle, params);
  }
  /** NdisCmDispatchCallConnected -> ProtocolClCallConnected. */
  protected dispatchCallConnected(v: CmVc): void {
    this.ndis.cmDispatchCallConnected(v.handle);
  }
  /** NdisCmDispatchIncomingCloseCall -> ProtocolClIncomingCloseCall. */
  protected dispatchIncomingCloseCall(status: NdisStatus, v: CmVc): void {
    this.ndis.cmDispatchIncomingCloseCall(status, v.handle);
  }
  /** NdisCmMakeCallComplete -> ProtocolClMakeCallComplete. */
  protected makeCallComplete(status: NdisStatus, v: CmVc, params: CoCallParameters): void {
    this.ndis.cmMakeCallComplete(status, v.handle, undefined, undefined, params);
  }
  /** NdisCmCloseCallComplete -> ProtocolClCloseCallComplete. */
  protected closeCallComplete(status: NdisStatus, v: CmVc): void {
    this.ndis.cmCloseCallComplete(status, v.handle);
  }
}
