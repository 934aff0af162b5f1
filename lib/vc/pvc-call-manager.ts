/**
 * PvcCallManager: the smallest stand-alone call manager that lets a CoNDIS client use a
 * condis-tap VC — permanent VCs (PERMANENT_VC in spirit: the call needs no signalling; the VID
 * in the call parameters names the circuit). It registers the address family AF_CONDIS_PVC on a
 * miniport, and maps:
 * - ProtocolCmMakeCall      -> NdisCmActivateVc with the client's parameters (spec §3.1);
 * - ProtocolCmModifyCallQoS -> NdisCmActivateVc again, no deactivation in between (§3.5a);
 * - ProtocolCmCloseCall     -> NdisCmDeactivateVc, the close completing from inside
 *   ProtocolCmDeactivateVcComplete (§3.2, §5 C1); a failed (aborted) deactivation is retried
 *   once (U2: the VC is ACTIVE again and, with nothing left in flight, deactivates at once).
 * `teardown()` plays a network-initiated close (§3.3): NdisCmDispatchIncomingCloseCall, then
 * NdisCmDeactivateVc right away, while the client may still hold receives.
 * The wire signalling call manager of lib/cm is the real thing; this one is for the plain Node
 * surface (VcChannel) and for tests.
 */
import { CondisError } from '../errors';
import type {
  CallManagerHandlers,
  NdisBindingHandle,
  NdisMiniportHandle,
  NdisVcHandle,
} from '../ndis/actors';
import type { CoCallParameters } from '../ndis/call-parameters';
import type { Ndis } from '../ndis/ndis';
import { NDIS_STATUS_PENDING, NDIS_STATUS_SUCCESS, type NdisStatus } from '../ndis/status';

/** The address family of permanent condis-tap VCs (CO_ADDRESS_FAMILY; a private number). */
export const AF_CONDIS_PVC = 0xc0d1;

/** The call manager's context of one VC (CallMgrVcContext). */
export class PvcVc {
  /** A make-call / QoS change / close is waiting for the activation or deactivation to complete. */
  makePending = false;
  qosPending = false;
  closePending = false;
  deactivating = false;
  retried = false;
  /** Resolvers of teardown()/deactivate() waiting for ProtocolCmDeactivateVcComplete. */
  readonly waiters: Array<(s: NdisStatus) => void> = [];
  constructor(readonly handle: NdisVcHandle) {}
}

/**
 * A call manager for permanent VCs (AF_CONDIS_PVC) on a condis-tap miniport: no signalling; a
 * make call binds the VID of its call parameters, a close deactivates (drains) and unbinds.
 */
export class PvcCallManager {
  readonly binding: NdisBindingHandle;
  readonly vcs = new Set<PvcVc>();

  constructor(
    readonly ndis: Ndis,
    miniport: NdisMiniportHandle,
    name = 'pvc-call-manager',
  ) {
    const proto = ndis.registerProtocol(name, {
      // No signalling VC: this call manager never sends or receives.
      coSendNetBufferListsComplete: () => {},
      coReceiveNetBufferLists: () => {},
    });
    this.binding = ndis.openAdapter(proto, miniport, this);
    const st = ndis.cmRegisterAddressFamily(this.binding, AF_CONDIS_PVC, this.handlers(), this);
    if (st !== NDIS_STATUS_SUCCESS) {
      throw new CondisError('ERR_CONDIS_REGISTRATION', 'PvcCallManager: address family already registered', {
        status: st,
      });
    }
  }

  /** The call manager's context of the VC a handle (any party's) names. */
  vcFor(vcHandle: NdisVcHandle): PvcVc | undefined {
    const slot = this.ndis.vcInfo(vcHandle)?.slot;
    if (slot === undefined) return undefined;
    for (const v of this.vcs) if (this.ndis.vcInfo(v.handle)?.slot === slot) return v;
    return undefined;
  }

  /**
   * Network-initiated teardown of the call on `vcHandle` (any party's handle): tells the client
   * (ProtocolClIncomingCloseCall) and deactivates the VC at once. Resolves with the
   * deactivation's final status; `status` is what NdisCmDeactivateVc returned (PENDING or final).
   */
  teardown(vcHandle: NdisVcHandle): { status: NdisStatus; done: Promise<NdisStatus> } {
    const v = this.need(vcHandle);
    this.ndis.cmDispatchIncomingCloseCall(NDIS_STATUS_SUCCESS, v.handle);
    return this.startDeactivate(v);
  }

  /** Deactivate without telling the client first (spec §3.4 c), e.g. to test the drain alone. */
  deactivate(vcHandle: NdisVcHandle): { status: NdisStatus; done: Promise<NdisStatus> } {
    return this.startDeactivate(this.need(vcHandle));
  }

  private need(vcHandle: NdisVcHandle): PvcVc {
    const v = this.vcFor(vcHandle);
    if (!v) throw new CondisError('ERR_CONDIS_INVALID_HANDLE', 'PvcCallManager: unknown VC');
    return v;
  }

  /** NdisCmDeactivateVc; `done` settles with the final status (self-completed or delivered). */
  private startDeactivate(v: PvcVc): { status: NdisStatus; done: Promise<NdisStatus> } {
    v.deactivating = true;
    const status = this.ndis.cmDeactivateVc(v.handle);
    if (status !== NDIS_STATUS_PENDING) {
      v.deactivating = false;
      return { status, done: Promise.resolve(status) };
    }
    return { status, done: new Promise<NdisStatus>((resolve) => v.waiters.push(resolve)) };
  }

  /** Activate (or re-activate) without a client request (tests; spec §3.5b). */
  activate(vcHandle: NdisVcHandle, params: CoCallParameters): Promise<NdisStatus> {
    return this.ndis.cmActivateVcAsync(this.need(vcHandle).handle, params);
  }

  private handlers(): CallManagerHandlers {
    const ndis = this.ndis;
    return {
      /** ProtocolCoCreateVc: the client created a VC for an outgoing call. */
      coCreateVc: (_afCtx, h) => {
        const v = new PvcVc(h);
        this.vcs.add(v);
        return { status: NDIS_STATUS_SUCCESS, context: v };
      },
      /** ProtocolCoDeleteVc */
      coDeleteVc: (ctx) => {
        this.vcs.delete(ctx as PvcVc);
        return NDIS_STATUS_SUCCESS;
      },
      /** ProtocolCmOpenAf: any client may open the PVC address family. */
      cmOpenAf: () => NDIS_STATUS_SUCCESS,
      cmCloseAf: () => NDIS_STATUS_SUCCESS,
      cmRegisterSap: () => NDIS_STATUS_SUCCESS,
      cmDeregisterSap: () => NDIS_STATUS_SUCCESS,
      /** ProtocolCmMakeCall: no signalling; the call is made once the miniport activated the VC. */
      cmMakeCall: (ctx, params) => {
        const v = ctx as PvcVc;
        const st = ndis.cmActivateVc(v.handle, params);
        if (st === NDIS_STATUS_PENDING) v.makePending = true;
        return st;
      },
      /** ProtocolCmModifyCallQoS: re-activate with the new parameters (E63). */
      cmModifyCallQoS: (ctx, params) => {
        const v = ctx as PvcVc;
        const st = ndis.cmActivateVc(v.handle, params);
        if (st === NDIS_STATUS_PENDING) v.qosPending = true;
        return st;
      },
      /** ProtocolCmActivateVcComplete: finish whatever waited on the activation. */
      cmActivateVcComplete: (status, ctx, params) => {
        const v = ctx as PvcVc;
        if (v.makePending) {
          v.makePending = false;
          ndis.cmMakeCallComplete(status, v.handle, undefined, undefined, params);
        } else if (v.qosPending) {
          v.qosPending = false;
          ndis.cmModifyCallQoSComplete(status, v.handle, params);
        }
      },
      /** ProtocolCmCloseCall: deactivate; the close completes with the deactivation (§5 C1). */
      cmCloseCall: (ctx) => {
        const v = ctx as PvcVc;
        v.retried = false;
        if (v.deactivating) {
          v.closePending = true;
          return NDIS_STATUS_PENDING;
        }
        if (ndis.vcInfo(v.handle)?.activation === 'INACTIVE') return NDIS_STATUS_SUCCESS;
        v.deactivating = true;
        const st = ndis.cmDeactivateVc(v.handle);
        if (st === NDIS_STATUS_PENDING) {
          v.closePending = true;
          return st;
        }
        v.deactivating = false;
        return st;
      },
      /** ProtocolCmDeactivateVcComplete: complete a pended close (retrying a failed drain once). */
      cmDeactivateVcComplete: (status, ctx) => {
        const v = ctx as PvcVc;
        v.deactivating = false;
        for (let w = v.waiters.shift(); w; w = v.waiters.shift()) w(status);
        if (!v.closePending) return;
        if (status !== NDIS_STATUS_SUCCESS && !v.retried) {
          v.retried = true;
          v.deactivating = true;
          const st = ndis.cmDeactivateVc(v.handle);
          if (st === NDIS_STATUS_PENDING) return;
          v.deactivating = false;
          status = st;
        }
        v.closePending = false;
        ndis.cmCloseCallComplete(status, v.handle);
      },
    };
  }
}
