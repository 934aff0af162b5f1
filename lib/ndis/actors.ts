/**
 * The actors of spec §1.1 and the handlers each registers. Handler names are camelCase mirrors of
 * the NDIS entry points; each doc comment names the function it mirrors. Every handler is called
 * by NDIS only (never by another driver) and may not block waiting for another completion.
 *
 * Contexts: wherever NDIS passes a driver "its" context (MiniportVcContext, ProtocolVcContext...)
 * it passes what the driver returned from its create handler, or, if it returned a bare status,
 * the NdisVcHandle it was given.
 */
import type { CoCallParameters } from './call-parameters';
import type { NetBufferList } from './nbl';
import type { NdisStatus } from './status';

/** NDIS_HANDLE of a VC. A number (it is also NET_BUFFER_LIST.SourceHandle); each party gets its own. */
export type NdisVcHandle = number & { readonly __ndisVcHandle: true };

/** NDIS_HANDLE of a registered miniport (NdisMRegisterMiniportDriver). Opaque. */
export class NdisMiniportHandle {
  constructor(readonly name: string) {}
}
/** NDIS_HANDLE of a registered protocol: a client or a call manager (NdisRegisterProtocolDriver). Opaque. */
export class NdisProtocolHandle {
  constructor(readonly name: string) {}
}
/** NDIS_HANDLE of a binding, a protocol bound to a miniport (NdisOpenAdapterEx). Opaque. */
export class NdisBindingHandle {
  constructor(readonly name: string) {}
}
/** NDIS_HANDLE of an open address family (NdisClOpenAddressFamilyEx). Opaque. */
export class NdisAfHandle {
  constructor(readonly id: number) {}
}
/** NDIS_HANDLE of a registered SAP (NdisClRegisterSap). Opaque. */
export class NdisSapHandle {
  constructor(readonly id: number) {}
}

/** What a create/open/register handler returns: a status, or a status and the driver's context. */
export type ContextResult = NdisStatus | { status: NdisStatus; context: unknown };

/** Address family (CO_ADDRESS_FAMILY): one number is enough here. */
export type AddressFamily = number;

/**
 * NDIS_MINIPORT_CO_CHARACTERISTICS. An MCM registers no coCreateVc/coDeleteVc (spec §1.1):
 * NDIS calls its call-manager coCreateVc/coDeleteVc instead.
 */
export interface MiniportCoHandlers {
  /** MiniportCoCreateVc: synchronous; SUCCESS or RESOURCES; PENDING is fatal (E7). */
  coCreateVc?(miniportAdapterContext: unknown, ndisVcHandle: NdisVcHandle): ContextResult;
  /** MiniportCoDeleteVc: synchronous, SUCCESS only; PENDING is fatal (E7). */
  coDeleteVc?(miniportVcContext: unknown): NdisStatus;
  /**
   * MiniportCoActivateVc: SUCCESS, or PENDING then NdisMCoActivateVcComplete; INVALID_DATA when the
   * parameters are unsupported. May be called again on an active VC (re-activation); a failed
   * re-activation must keep the previous parameters.
   */
  coActivateVc?(miniportVcContext: unknown, callParameters: CoCallParameters): NdisStatus;
  /**
   * MiniportCoDeactivateVc: SUCCESS only if nothing is outstanding on the VC (spec §2.4),
   * otherwise PENDING then NdisMCoDeactivateVcComplete once drained (or
   * `mCoDeactivateVcCompleteWhenDrained`, which lets NDIS's drain counter decide).
   */
  coDeactivateVc?(miniportVcContext: unknown): NdisStatus;
  /** MiniportCoSendNetBufferLists: accept every NBL (queue internally), complete each exactly once. */
  coSendNetBufferLists(miniportVcContext: unknown, nbls: NetBufferList, sendFlags: number): void;
  /** MiniportReturnNetBufferLists: NBLs from any indications and VCs, in any grouping. */
  returnNetBufferLists(miniportAdapterContext: unknown, nbls: NetBufferList, returnFlags: number): void;
  /**
   * condis-tap extension (no NDIS counterpart): called when a pended deactivation passes the
   * runtime's deadline. The miniport should abort what it holds for the VC: complete every held
   * send (NDIS_STATUS_SEND_ABORTED), reset the VC's queues (virtio queue reset returns the unused
   * buffers) and, if it can, complete the deactivation from inside the hook. Otherwise NDIS fails
   * the deactivation with NDIS_STATUS_REQUEST_ABORTED.
   */
  coAbortVc?(miniportVcContext: unknown): void;
}

/** NDIS_PROTOCOL_CO_CHARACTERISTICS: the data-path handlers of a connection-oriented protocol. */
export interface ProtocolCoHandlers {
  /** ProtocolCoSendNetBufferListsComplete: each NBL carries its status. */
  coSendNetBufferListsComplete(
    protocolVcContext: unknown,
    nbls: NetBufferList,
    sendCompleteFlags: number,
  ): void;
  /**
   * ProtocolCoReceiveNetBufferLists. With NDIS_RECEIVE_FLAGS_RESOURCES the NBLs go back to the
   * miniport when this returns (copy what you need); without it, give them back with
   * `returnNetBufferLists`.
   */
  coReceiveNetBufferLists(
    protocolBindingContext: unknown,
    protocolVcContext: unknown,
    nbls: NetBufferList,
    numberOfNbls: number,
    receiveFlags: number,
  ): void;
  /** ProtocolCoStatusEx (RESET_START / RESET_END...). */
  coStatusEx?(protocolBindingContext: unknown, protocolVcContext: unknown, status: NdisStatus): void;
}

/** NDIS_CO_CLIENT_OPTIONAL_HANDLERS, given to clOpenAddressFamily. */
export interface ClientHandlers {
  /** ProtocolCoCreateVc (client side: VCs the CM creates for incoming calls). May not pend. */
  coCreateVc?(protocolAfContext: unknown, ndisVcHandle: NdisVcHandle): ContextResult;
  /** ProtocolCoDeleteVc. May not pend; NOT_ACCEPTED refuses. */
  coDeleteVc?(protocolVcContext: unknown): NdisStatus;
  /** ProtocolClOpenAfCompleteEx */
  clOpenAfComplete?(status: NdisStatus, protocolAfContext: unknown, ndisAfHandle: NdisAfHandle): void;
  /** ProtocolClCloseAfComplete */
  clCloseAfComplete?(status: NdisStatus, protocolAfContext: unknown): void;
  /** ProtocolClRegisterSapComplete */
  clRegisterSapComplete?(
    status: NdisStatus,
    protocolSapContext: unknown,
    sap: unknown,
    ndisSapHandle: NdisSapHandle,
  ): void;
  /** ProtocolClDeregisterSapComplete */
  clDeregisterSapComplete?(status: NdisStatus, protocolSapContext: unknown): void;
  /** ProtocolClMakeCallComplete: the CallParameters object is the one given to clMakeCall. */
  clMakeCallComplete?(
    status: NdisStatus,
    protocolVcContext: unknown,
    ndisPartyHandle: unknown,
    callParameters: CoCallParameters,
  ): void;
  /** ProtocolClCloseCallComplete: SUCCESS means the call is closed and the VC deactivated. */
  clCloseCallComplete?(status: NdisStatus, protocolVcContext: unknown, protocolPartyContext: unknown): void;
  /** ProtocolClModifyCallQoSComplete */
  clModifyCallQoSComplete?(
    status: NdisStatus,
    protocolVcContext: unknown,
    callParameters: CoCallParameters,
  ): void;
  /** ProtocolClIncomingCall: SUCCESS accepts, PENDING then NdisClIncomingCallComplete, other rejects. */
  clIncomingCall?(
    protocolSapContext: unknown,
    protocolVcContext: unknown,
    callParameters: CoCallParameters,
  ): NdisStatus;
  /** ProtocolClCallConnected: data may flow from now on. */
  clCallConnected?(protocolVcContext: unknown): void;
  /** ProtocolClIncomingCloseCall: the client must answer with NdisClCloseCall. */
  clIncomingCloseCall?(
    closeStatus: NdisStatus,
    protocolVcContext: unknown,
    closeData: Uint8Array | undefined,
  ): void;
  /** ProtocolClIncomingCallQoSChange: accept by returning, reject with NdisClCloseCall. */
  clIncomingCallQoSChange?(protocolVcContext: unknown, callParameters: CoCallParameters): void;
}

/** NDIS_CO_CALL_MANAGER_OPTIONAL_HANDLERS, given to cmRegisterAddressFamily / mCmRegisterAddressFamily. */
export interface CallManagerHandlers {
  /** ProtocolCoCreateVc (CM side, or the MCM's for client VCs). May not pend. */
  coCreateVc?(callMgrAfContext: unknown, ndisVcHandle: NdisVcHandle): ContextResult;
  /** ProtocolCoDeleteVc. May not pend; NOT_ACCEPTED refuses. */
  coDeleteVc?(callMgrVcContext: unknown): NdisStatus;
  /** ProtocolCmOpenAf: SUCCESS (with the CM's AF context) or PENDING then NdisCmOpenAddressFamilyComplete. */
  cmOpenAf?(
    callMgrBindingContext: unknown,
    addressFamily: AddressFamily,
    ndisAfHandle: NdisAfHandle,
  ): ContextResult;
  /** ProtocolCmCloseAf: NOT_ACCEPTED or PENDING while calls are open (E66). */
  cmCloseAf?(callMgrAfContext: unknown): NdisStatus;
  /** ProtocolCmRegisterSap */
  cmRegisterSap?(callMgrAfContext: unknown, sap: unknown, ndisSapHandle: NdisSapHandle): ContextResult;
  /** ProtocolCmDeregisterSap */
  cmDeregisterSap?(callMgrSapContext: unknown): NdisStatus;
  /** ProtocolCmMakeCall: SUCCESS means the call is made and the VC activated. */
  cmMakeCall?(
    callMgrVcContext: unknown,
    callParameters: CoCallParameters,
    ndisPartyHandle: unknown,
  ): NdisStatus;
  /** ProtocolCmCloseCall: tear down and deactivate; INVALID_DATA if close data cannot be carried (E33). */
  cmCloseCall?(
    callMgrVcContext: unknown,
    callMgrPartyContext: unknown,
    closeData: Uint8Array | undefined,
  ): NdisStatus;
  /** ProtocolCmModifyCallQoS: on success, re-activate with the new parameters first (E63). */
  cmModifyCallQoS?(callMgrVcContext: unknown, callParameters: CoCallParameters): NdisStatus;
  /** ProtocolCmIncomingCallComplete: the client's answer to a pended offer. */
  cmIncomingCallComplete?(
    status: NdisStatus,
    callMgrVcContext: unknown,
    callParameters: CoCallParameters,
  ): void;
  /** ProtocolCmActivateVcComplete: only after NdisCmActivateVc returned PENDING (E12). */
  cmActivateVcComplete?(
    status: NdisStatus,
    callMgrVcContext: unknown,
    callParameters: CoCallParameters,
  ): void;
  /** ProtocolCmDeactivateVcComplete: only after NdisCmDeactivateVc returned PENDING (E49). */
  cmDeactivateVcComplete?(status: NdisStatus, callMgrVcContext: unknown): void;
}
