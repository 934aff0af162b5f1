/**
 * The NDIS runtime's public face: `Ndis`, the Ndis* functions of spec §1.2, routing each request to the right peer,
 * keeping the two state axes of every VC (spec §2) and its drain counter (§2.4), enforcing the
 * refusals of §2.3 and the send policy of §4.3 before any driver handler is called.
 *
 * Request/completion discipline (spec §1.2 conventions, §8):
 * - a request that can pend returns a final status or NDIS_STATUS_PENDING. On a final status the
 *   caller runs its own completion logic and NDIS never calls its completion handler; on PENDING,
 *   NDIS calls the completion handler exactly once, later;
 * - every completion NDIS delivers to a driver runs from a task of the injected Scheduler, in
 *   FIFO order, never inside the call that caused it;
 * - completions a driver reports (NdisMCoActivateVcComplete...) go through the VC's mailbox, so a
 *   completion reported from inside the handler that is about to return PENDING is processed once
 *   the PENDING is recorded.
 * Each `xxxAsync` convenience returns a Promise that settles with the final status either way.
 *
 * Each method delegates in one line to the module that owns its concern (bindings.ts,
 * vc-lifecycle.ts, calls.ts, data-path.ts), passing the runtime's NdisCore (core.ts); see
 * README.md for the map.
 */
import type {
  AddressFamily,
  CallManagerHandlers,
  ClientHandlers,
  MiniportCoHandlers,
  NdisAfHandle,
  NdisBindingHandle,
  NdisMiniportHandle,
  NdisProtocolHandle,
  NdisSapHandle,
  NdisVcHandle,
  ProtocolCoHandlers,
} from './actors';
import {
  clCloseAddressFamily,
  clDeregisterSap,
  clOpenAddressFamily,
  closeAdapter,
  clRegisterSap,
  cmCloseAddressFamilyComplete,
  cmDeregisterSapComplete,
  cmOpenAddressFamilyComplete,
  cmRegisterAddressFamily,
  cmRegisterSapComplete,
  deregisterMiniport,
  mCmRegisterAddressFamily,
  mIndicateStatus,
  openAdapter,
  registerMcm,
  registerMiniport,
  registerProtocol,
} from './bindings';
import type { CoCallParameters } from './call-parameters';
import {
  CL_CLOSE_CALL,
  CL_INCOMING_CALL_COMPLETE,
  CL_MAKE_CALL,
  CL_MODIFY_CALL_QOS,
  CLOSE_CALL_COMPLETE,
  DISPATCH_CALL_CONNECTED,
  DISPATCH_INCOMING_CALL,
  DISPATCH_INCOMING_CALL_EITHER,
  DISPATCH_INCOMING_CLOSE,
  DISPATCH_QOS_CHANGE,
  dispatchIncomingCall,
  MAKE_CALL_COMPLETE,
  MODIFY_QOS_COMPLETE,
} from './calls';
import { type Clock, systemClock } from './clock';
import { NdisCore } from './core';
import {
  coSendNetBufferLists,
  mCoIndicateReceiveNetBufferLists,
  mCoSendNetBufferListsComplete,
  returnNetBufferLists,
} from './data-path';
import type { NetBufferList } from './nbl';
import {
  applyOffloadParameters,
  cloneNdisOffload,
  type NdisOffload,
  type NdisOffloadParameters,
} from './offload';
import type { DeactivationRecord, NdisOptions, VcInfo } from './options';
import { complete, request } from './request';
import { microtaskScheduler, type Scheduler } from './scheduler';
import { NDIS_STATUS_NOT_SUPPORTED, NDIS_STATUS_SUCCESS, type NdisStatus } from './status';
import { Trace } from './trace';
import {
  CM_ACTIVATE_VC,
  CM_DEACTIVATE_VC,
  coCreateVc,
  coDeleteVc,
  MCM_ACTIVATE_VC,
  MCM_DEACTIVATE_VC,
  MCO_ACTIVATE_VC_COMPLETE,
  MCO_DEACTIVATE_VC_COMPLETE,
  MCO_DEACTIVATE_VC_COMPLETE_WHEN_DRAINED,
  mCmCreateVc,
  subscribeDeactivations,
} from './vc-lifecycle';
import type { SendPolicy } from './vc-states';
import { Verifier } from './verifier';

export type { DeactivationRecord, NdisDataPathObserver, NdisOptions, VcInfo } from './options';

/**
 * NDIS itself: one instance is one "kernel" that drivers register with. Its methods are the Ndis*
 * functions (camelCase: NdisClMakeCall is `clMakeCall`), each `xxxAsync` the Promise form of a
 * request that may pend. The verifier (`verifier`, on by default in 'throw' mode) raises
 * ERR_CONDIS_E<n> at the driver call that breaks rule n; `trace` records what ran.
 */
export class Ndis {
  readonly clock: Clock;
  readonly scheduler: Scheduler;
  readonly verifier: Verifier;
  readonly trace: Trace | undefined;
  private readonly core: NdisCore;

  constructor(opts: NdisOptions = {}) {
    this.clock = opts.clock ?? systemClock;
    this.scheduler = opts.scheduler ?? microtaskScheduler;
    this.verifier = new Verifier(opts.verifier ?? 'throw', opts.onViolation);
    const t = opts.trace ?? true;
    this.trace = t === false ? undefined : new Trace(this.clock, typeof t === 'number' ? t : undefined);
    this.core = new NdisCore(
      this.clock,
      this.scheduler,
      this.verifier,
      this.trace,
      opts.sendPolicy ?? 'strict-core',
      opts.deactivationDeadlineMs,
      opts.observer,
    );
  }

  /** Spec §4.3 send policy in force (see NdisOptions.sendPolicy); may be changed at run time. */
  get sendPolicy(): SendPolicy {
    return this.core.sendPolicy;
  }
  set sendPolicy(p: SendPolicy) {
    this.core.sendPolicy = p;
  }

  /**
   * Hear each VC deactivation's DeactivationRecord (its begin, drain end and completion times
   * and what was in flight), like `NdisOptions.observer.onDeactivation` but on a live runtime:
   * every VC's, or only the VC `vcHandle` names (any party's handle of it). Returns the function
   * that unsubscribes. Control path only: costs nothing per packet.
   */
  onDeactivation(listener: (rec: DeactivationRecord) => void, vcHandle?: NdisVcHandle): () => void {
    return subscribeDeactivations(this.core, listener, vcHandle);
  }

  /** The drain deadline in force (see NdisOptions.deactivationDeadlineMs); may be changed at run time. */
  get deactivationDeadlineMs(): number | undefined {
    return this.core.deactivationDeadlineMs;
  }
  set deactivationDeadlineMs(ms: number | undefined) {
    this.core.deactivationDeadlineMs = ms;
  }

  /** NdisMRegisterMiniportDriver + NdisMSetMiniportAttributes (CoNDIS): a connection-oriented miniport. */
  registerMiniport(name: string, handlers: MiniportCoHandlers, adapterContext?: unknown): NdisMiniportHandle {
    return registerMiniport(this.core, name, handlers, adapterContext);
  }

  /**
   * NdisMRegisterMiniportDriver for an MCM: a miniport with an integrated call manager. Its
   * coCreateVc/coDeleteVc are ignored (NDIS calls the call-manager ones); register its address
   * families with `mCmRegisterAddressFamily`.
   */
  registerMcm(name: string, handlers: MiniportCoHandlers, adapterContext?: unknown): NdisMiniportHandle {
    return registerMcm(this.core, name, handlers, adapterContext);
  }

  /**
   * NdisMSetMiniportAttributes with NDIS_MINIPORT_ADAPTER_OFFLOAD_ATTRIBUTES: the miniport's
   * HardwareOffloadCapabilities and its DefaultOffloadConfiguration (default: the capabilities).
   * Until a miniport calls this it advertised nothing, and the verifier flags any LSO or checksum
   * request sent on its VCs (ERR_CONDIS_OFFLOAD_NOT_ADVERTISED). Control path: copies the records.
   */
  setMiniportOffloadAttributes(
    miniport: NdisMiniportHandle,
    hardware: NdisOffload,
    current?: NdisOffload,
  ): void {
    const mp = this.core.need(this.core.miniports.get(miniport), 'NdisMSetMiniportAttributes');
    mp.offloadHardware = cloneNdisOffload(hardware);
    mp.offloadCurrent = cloneNdisOffload(current ?? hardware);
  }

  /**
   * OID_TCP_OFFLOAD_HARDWARE_CAPABILITIES ('hardware') or OID_TCP_OFFLOAD_CURRENT_CONFIG
   * ('current') query on a miniport: a copy of its NDIS_OFFLOAD, undefined if it advertised none.
   */
  queryOffload(
    miniport: NdisMiniportHandle,
    which: 'hardware' | 'current' = 'current',
  ): NdisOffload | undefined {
    const mp = this.core.need(this.core.miniports.get(miniport), 'OID_TCP_OFFLOAD_CURRENT_CONFIG');
    const o = which === 'hardware' ? mp.offloadHardware : mp.offloadCurrent;
    return o && cloneNdisOffload(o);
  }

  /**
   * OID_TCP_OFFLOAD_PARAMETERS set: a protocol's choice of offloads, applied to the miniport's
   * current configuration within its hardware capabilities (NO_CHANGE members keep theirs).
   * NOT_SUPPORTED if the miniport advertised no offload. Sends on the miniport's VCs are checked
   * against the new configuration from the next send on.
   */
  setOffloadParameters(miniport: NdisMiniportHandle, params: NdisOffloadParameters): NdisStatus {
    const mp = this.core.need(this.core.miniports.get(miniport), 'OID_TCP_OFFLOAD_PARAMETERS');
    if (!mp.offloadHardware || !mp.offloadCurrent) return NDIS_STATUS_NOT_SUPPORTED;
    applyOffloadParameters(mp.offloadCurrent, mp.offloadHardware, params);
    return NDIS_STATUS_SUCCESS;
  }

  /** NdisMDeregisterMiniportDriver / halt: asserts no VC is left (spec §5 U10). */
  deregisterMiniport(miniport: NdisMiniportHandle): NdisStatus {
    return deregisterMiniport(this.core, miniport);
  }

  /** NdisRegisterProtocolDriver with NDIS_PROTOCOL_CO_CHARACTERISTICS: a client or a call manager. */
  registerProtocol(name: string, handlers: ProtocolCoHandlers): NdisProtocolHandle {
    return registerProtocol(this.core, name, handlers);
  }

  /** NdisOpenAdapterEx: bind a protocol to a miniport (synchronous here). */
  openAdapter(
    protocol: NdisProtocolHandle,
    miniport: NdisMiniportHandle,
    protocolBindingContext?: unknown,
  ): NdisBindingHandle {
    return openAdapter(this.core, protocol, miniport, protocolBindingContext);
  }

  /** NdisCloseAdapterEx: asserts the binding has no AF open and no VC left (spec §5 U10). */
  closeAdapter(binding: NdisBindingHandle): NdisStatus {
    return closeAdapter(this.core, binding);
  }

  /** NdisCmRegisterAddressFamilyEx: a stand-alone call manager offers an address family on its binding. */
  cmRegisterAddressFamily(
    binding: NdisBindingHandle,
    af: AddressFamily,
    handlers: CallManagerHandlers,
    callMgrBindingContext?: unknown,
  ): NdisStatus {
    return cmRegisterAddressFamily(this.core, binding, af, handlers, callMgrBindingContext);
  }

  /** NdisMCmRegisterAddressFamilyEx: an MCM registers as the call manager of its own miniport. */
  mCmRegisterAddressFamily(
    miniport: NdisMiniportHandle,
    af: AddressFamily,
    handlers: CallManagerHandlers,
  ): NdisStatus {
    return mCmRegisterAddressFamily(this.core, miniport, af, handlers);
  }

  /**
   * NdisClOpenAddressFamilyEx: a client opens an address family offered on the miniport it is
   * bound to. NDIS calls the CM's ProtocolCmOpenAf; PENDING ends in ProtocolClOpenAfCompleteEx.
   */
  clOpenAddressFamily(
    binding: NdisBindingHandle,
    af: AddressFamily,
    handlers: ClientHandlers,
    protocolAfContext?: unknown,
  ): { status: NdisStatus; afHandle: NdisAfHandle | undefined } {
    return clOpenAddressFamily(this.core, binding, af, handlers, protocolAfContext);
  }

  /** NdisCmOpenAddressFamilyComplete / NdisMCmOpenAddressFamilyComplete */
  cmOpenAddressFamilyComplete(status: NdisStatus, afHandle: NdisAfHandle, callMgrAfContext?: unknown): void {
    cmOpenAddressFamilyComplete(this.core, status, afHandle, callMgrAfContext);
  }

  /** NdisClCloseAddressFamily: the CM may refuse (NOT_ACCEPTED) or pend while calls are open (E66). */
  clCloseAddressFamily(afHandle: NdisAfHandle): NdisStatus {
    return clCloseAddressFamily(this.core, afHandle);
  }

  /** NdisCmCloseAddressFamilyComplete / NdisMCmCloseAddressFamilyComplete */
  cmCloseAddressFamilyComplete(status: NdisStatus, afHandle: NdisAfHandle): void {
    cmCloseAddressFamilyComplete(this.core, status, afHandle);
  }

  /** Promise form of clCloseAddressFamily. */
  clCloseAddressFamilyAsync(afHandle: NdisAfHandle): Promise<NdisStatus> {
    return this.core.arm(() => this.clCloseAddressFamily(afHandle));
  }

  /** NdisClRegisterSap: NDIS calls the CM's ProtocolCmRegisterSap. */
  clRegisterSap(
    afHandle: NdisAfHandle,
    sap: unknown,
    protocolSapContext?: unknown,
  ): { status: NdisStatus; sapHandle: NdisSapHandle | undefined } {
    return clRegisterSap(this.core, afHandle, sap, protocolSapContext);
  }

  /** NdisCmRegisterSapComplete */
  cmRegisterSapComplete(status: NdisStatus, sapHandle: NdisSapHandle, callMgrSapContext?: unknown): void {
    cmRegisterSapComplete(this.core, status, sapHandle, callMgrSapContext);
  }

  /** NdisClDeregisterSap: FAILURE on a SAP already closing. */
  clDeregisterSap(sapHandle: NdisSapHandle): NdisStatus {
    return clDeregisterSap(this.core, sapHandle);
  }

  /** NdisCmDeregisterSapComplete */
  cmDeregisterSapComplete(status: NdisStatus, sapHandle: NdisSapHandle): void {
    cmDeregisterSapComplete(this.core, status, sapHandle);
  }

  /**
   * NdisCoCreateVc. A client (outgoing call) or a CM (incoming call, or `afHandle` null for its
   * own signalling VC). Before returning, NDIS calls MiniportCoCreateVc, then the other protocol's
   * ProtocolCoCreateVc (none for a signalling VC; only the MCM's over an MCM). If the peer fails,
   * MiniportCoDeleteVc undoes the miniport's part (spec §1.2-A [POLICY]). Synchronous only.
   */
  coCreateVc(
    binding: NdisBindingHandle,
    afHandle: NdisAfHandle | null,
    protocolVcContext?: unknown,
  ): { status: NdisStatus; vcHandle: NdisVcHandle | undefined } {
    return coCreateVc(this.core, binding, afHandle, protocolVcContext);
  }

  /** NdisMCmCreateVc: an MCM creates the VC of an incoming call; NDIS calls the client's ProtocolCoCreateVc. */
  mCmCreateVc(
    miniport: NdisMiniportHandle,
    afHandle: NdisAfHandle,
    miniportVcContext?: unknown,
  ): { status: NdisStatus; vcHandle: NdisVcHandle | undefined } {
    return mCmCreateVc(this.core, miniport, afHandle, miniportVcContext);
  }

  /**
   * NdisCoDeleteVc, by the VC's creator only. Needs A=INACTIVE and C=IDLE: NOT_ACCEPTED while
   * active or activating (or with a call outstanding), CLOSING while deactivating, no handler
   * called. Then the sharing peer's ProtocolCoDeleteVc (it may refuse: the VC survives), then
   * MiniportCoDeleteVc (not over an MCM). The handle is dead on return.
   */
  coDeleteVc(vcHandle: NdisVcHandle): NdisStatus {
    return coDeleteVc(this.core, vcHandle, false);
  }

  /** NdisMCmDeleteVc: an MCM deletes a VC it created; NDIS calls the client's ProtocolCoDeleteVc only. */
  mCmDeleteVc(vcHandle: NdisVcHandle): NdisStatus {
    return coDeleteVc(this.core, vcHandle, true);
  }

  /**
   * NdisCmActivateVc (stand-alone CM): activate, or re-activate an active VC with new parameters.
   * NOT_ACCEPTED while another activation is pending, CLOSING while deactivating, the miniport
   * not called. Otherwise NDIS calls MiniportCoActivateVc; its final status is returned (and the
   * CM completes for itself), PENDING ends in ProtocolCmActivateVcComplete.
   */
  cmActivateVc(vcHandle: NdisVcHandle, callParameters: CoCallParameters): NdisStatus {
    return request(this.core, CM_ACTIVATE_VC, vcHandle, callParameters);
  }

  /** Promise form of cmActivateVc. */
  cmActivateVcAsync(vcHandle: NdisVcHandle, callParameters: CoCallParameters): Promise<NdisStatus> {
    return this.core.arm(() => this.cmActivateVc(vcHandle, callParameters));
  }

  /**
   * NdisMCoActivateVcComplete: the miniport finishes an activation it pended. PENDING is invalid
   * (E19); completing an activation that did not pend is a contract break (E20).
   */
  mCoActivateVcComplete(status: NdisStatus, vcHandle: NdisVcHandle, callParameters?: CoCallParameters): void {
    complete(this.core, MCO_ACTIVATE_VC_COMPLETE, status, vcHandle, callParameters);
  }

  /**
   * NdisMCmActivateVc (MCM only): the MCM has programmed its NIC and tells NDIS the parameters in
   * force (A15; spec §5 C7: no miniport handler is called). Always a final status here.
   */
  mCmActivateVc(vcHandle: NdisVcHandle, callParameters: CoCallParameters): NdisStatus {
    return request(this.core, MCM_ACTIVATE_VC, vcHandle, callParameters);
  }

  /** Promise form of mCmActivateVc. */
  mCmActivateVcAsync(vcHandle: NdisVcHandle, callParameters: CoCallParameters): Promise<NdisStatus> {
    return this.core.arm(() => this.mCmActivateVc(vcHandle, callParameters));
  }

  /**
   * NdisCmDeactivateVc (stand-alone CM). NOT_ACCEPTED while an activation is pending or when the VC
   * is not active, CLOSING while a deactivation is pending, the miniport not called. Otherwise the
   * stop bit is set (new sends complete with CLOSING) and NDIS calls MiniportCoDeactivateVc once.
   * The deactivation completes when the miniport has completed it AND the VC's drain counter is
   * zero (every send in the miniport completed, every non-RESOURCES receive returned).
   */
  cmDeactivateVc(vcHandle: NdisVcHandle): NdisStatus {
    return request(this.core, CM_DEACTIVATE_VC, vcHandle, undefined);
  }

  /** Promise form of cmDeactivateVc. */
  cmDeactivateVcAsync(vcHandle: NdisVcHandle): Promise<NdisStatus> {
    return this.core.arm(() => this.cmDeactivateVc(vcHandle));
  }

  /**
   * NdisMCoDeactivateVcComplete: the miniport finishes a deactivation it pended. With SUCCESS it
   * asserts the drain (spec §2.4): completing while sends or receives are outstanding is E43
   * (NDIS then waits for the counter); PENDING is E19; a deactivation that did not pend, or a
   * second completion, is E20.
   */
  mCoDeactivateVcComplete(status: NdisStatus, vcHandle: NdisVcHandle): void {
    complete(this.core, MCO_DEACTIVATE_VC_COMPLETE, status, vcHandle, undefined);
  }

  /**
   * condis-tap extension of NdisMCoDeactivateVcComplete(SUCCESS): "complete as soon as NDIS's drain
   * counter for this VC reaches zero". The miniport calls it once it has stopped placing new
   * receives for the VC (spec §2.4 condition 3); NDIS's counter then decides conditions 1 and 2,
   * so a miniport over a device needs no counting of its own. Completes at once if already drained.
   */
  mCoDeactivateVcCompleteWhenDrained(vcHandle: NdisVcHandle): void {
    complete(this.core, MCO_DEACTIVATE_VC_COMPLETE_WHEN_DRAINED, NDIS_STATUS_SUCCESS, vcHandle, undefined);
  }

  /**
   * NdisMCmDeactivateVc (MCM only): returns a final status (spec §5 C3): SUCCESS (VC inactive) or
   * NOT_ACCEPTED (already inactive). The MCM must have drained the VC first (spec §2.4); if it has
   * not (E43), NDIS returns PENDING, waits for the drain and then calls the MCM's
   * ProtocolCmDeactivateVcComplete, as C3 prescribes for a pending return.
   */
  mCmDeactivateVc(vcHandle: NdisVcHandle): NdisStatus {
    return request(this.core, MCM_DEACTIVATE_VC, vcHandle, undefined);
  }

  /** Promise form of mCmDeactivateVc. */
  mCmDeactivateVcAsync(vcHandle: NdisVcHandle): Promise<NdisStatus> {
    return this.core.arm(() => this.mCmDeactivateVc(vcHandle));
  }

  /**
   * NdisClMakeCall: the client, on a VC it created. NDIS calls the CM's ProtocolCmMakeCall; a
   * final status is the client's to handle, PENDING ends in ProtocolClMakeCallComplete with the
   * same CallParameters object (E24). Refused while a call is in progress; E36 if the VC must be
   * deleted instead.
   */
  clMakeCall(
    vcHandle: NdisVcHandle,
    callParameters: CoCallParameters,
    protocolPartyContext?: unknown,
  ): NdisStatus {
    // Point-to-multipoint parties are not modelled.
    void protocolPartyContext;
    return request(this.core, CL_MAKE_CALL, vcHandle, callParameters);
  }

  /** Promise form of clMakeCall. */
  clMakeCallAsync(vcHandle: NdisVcHandle, callParameters: CoCallParameters): Promise<NdisStatus> {
    return this.core.arm(() => this.clMakeCall(vcHandle, callParameters));
  }

  /** NdisCmMakeCallComplete: SUCCESS only once the VC is active (E21). */
  cmMakeCallComplete(
    status: NdisStatus,
    vcHandle: NdisVcHandle,
    ndisPartyHandle?: unknown,
    callMgrPartyContext?: unknown,
    callParameters?: CoCallParameters,
  ): void {
    // Point-to-multipoint parties are not modelled.
    void ndisPartyHandle;
    void callMgrPartyContext;
    complete(this.core, MAKE_CALL_COMPLETE.cm, status, vcHandle, callParameters);
  }

  /** NdisMCmMakeCallComplete */
  mCmMakeCallComplete(
    status: NdisStatus,
    vcHandle: NdisVcHandle,
    ndisPartyHandle?: unknown,
    callMgrPartyContext?: unknown,
    callParameters?: CoCallParameters,
  ): void {
    // Point-to-multipoint parties are not modelled.
    void ndisPartyHandle;
    void callMgrPartyContext;
    complete(this.core, MAKE_CALL_COMPLETE.mcm, status, vcHandle, callParameters);
  }

  /**
   * NdisCmDispatchIncomingCall: the CM offers a call on a VC it created and activated (E25).
   * NDIS calls the SAP owner's ProtocolClIncomingCall: SUCCESS accepts, PENDING ends in
   * ProtocolCmIncomingCallComplete, anything else rejects (the CM then deactivates).
   */
  cmDispatchIncomingCall(
    sapHandle: NdisSapHandle,
    vcHandle: NdisVcHandle,
    callParameters: CoCallParameters,
  ): NdisStatus {
    return dispatchIncomingCall(this.core, DISPATCH_INCOMING_CALL.cm, sapHandle, vcHandle, callParameters);
  }

  /** NdisMCmDispatchIncomingCall */
  mCmDispatchIncomingCall(
    sapHandle: NdisSapHandle,
    vcHandle: NdisVcHandle,
    callParameters: CoCallParameters,
  ): NdisStatus {
    return dispatchIncomingCall(this.core, DISPATCH_INCOMING_CALL.mcm, sapHandle, vcHandle, callParameters);
  }

  /** Promise form of cmDispatchIncomingCall / mCmDispatchIncomingCall. */
  dispatchIncomingCallAsync(
    sapHandle: NdisSapHandle,
    vcHandle: NdisVcHandle,
    callParameters: CoCallParameters,
  ): Promise<NdisStatus> {
    return this.core.arm(() =>
      dispatchIncomingCall(this.core, DISPATCH_INCOMING_CALL_EITHER, sapHandle, vcHandle, callParameters),
    );
  }

  /** NdisClIncomingCallComplete: the client's answer to an offer it pended. */
  clIncomingCallComplete(
    status: NdisStatus,
    vcHandle: NdisVcHandle,
    callParameters?: CoCallParameters,
  ): void {
    complete(this.core, CL_INCOMING_CALL_COMPLETE, status, vcHandle, callParameters);
  }

  /** NdisCmDispatchCallConnected: only after the client accepted, never after an incoming close (E29). */
  cmDispatchCallConnected(vcHandle: NdisVcHandle): void {
    request(this.core, DISPATCH_CALL_CONNECTED.cm, vcHandle, undefined);
  }

  /** NdisMCmDispatchCallConnected */
  mCmDispatchCallConnected(vcHandle: NdisVcHandle): void {
    request(this.core, DISPATCH_CALL_CONNECTED.mcm, vcHandle, undefined);
  }

  /**
   * NdisClCloseCall: NDIS marks the call closing (sends now complete with CLOSING) and calls the
   * CM's ProtocolCmCloseCall, which tears down and deactivates. Final status: the client's to
   * handle; PENDING ends in ProtocolClCloseCallComplete, whose SUCCESS means the VC is inactive
   * (E34). Refused while the make-call is pending (U6). Sends still in the miniport are E31.
   */
  clCloseCall(vcHandle: NdisVcHandle, ndisPartyHandle?: unknown, closeData?: Uint8Array): NdisStatus {
    // Point-to-multipoint parties are not modelled.
    void ndisPartyHandle;
    return request(this.core, CL_CLOSE_CALL, vcHandle, { closeData });
  }

  /** Promise form of clCloseCall. */
  clCloseCallAsync(vcHandle: NdisVcHandle, closeData?: Uint8Array): Promise<NdisStatus> {
    return this.core.arm(() => this.clCloseCall(vcHandle, undefined, closeData));
  }

  /** NdisCmCloseCallComplete: SUCCESS only once the VC's deactivation has completed (E34, spec §5 C1). */
  cmCloseCallComplete(status: NdisStatus, vcHandle: NdisVcHandle, ndisPartyHandle?: unknown): void {
    // Point-to-multipoint parties are not modelled.
    void ndisPartyHandle;
    complete(this.core, CLOSE_CALL_COMPLETE.cm, status, vcHandle, undefined);
  }

  /** NdisMCmCloseCallComplete */
  mCmCloseCallComplete(status: NdisStatus, vcHandle: NdisVcHandle, ndisPartyHandle?: unknown): void {
    // Point-to-multipoint parties are not modelled.
    void ndisPartyHandle;
    complete(this.core, CLOSE_CALL_COMPLETE.mcm, status, vcHandle, undefined);
  }

  /**
   * NdisCmDispatchIncomingCloseCall: remote hang-up, network failure, or unacceptable client
   * parameters. Calls ProtocolClIncomingCloseCall; changes nothing on the activation axis (E35).
   * On a client-created VC a failure CloseStatus means the client must delete the VC (E36).
   */
  cmDispatchIncomingCloseCall(closeStatus: NdisStatus, vcHandle: NdisVcHandle, closeData?: Uint8Array): void {
    request(this.core, DISPATCH_INCOMING_CLOSE.cm, vcHandle, { closeStatus, closeData });
  }

  /** NdisMCmDispatchIncomingCloseCall */
  mCmDispatchIncomingCloseCall(
    closeStatus: NdisStatus,
    vcHandle: NdisVcHandle,
    closeData?: Uint8Array,
  ): void {
    request(this.core, DISPATCH_INCOMING_CLOSE.mcm, vcHandle, { closeStatus, closeData });
  }

  /**
   * NdisClModifyCallQoS: on a connected call, or on an offered call before answering it (E27).
   * NDIS calls ProtocolCmModifyCallQoS; PENDING ends in ProtocolClModifyCallQoSComplete. One at a time.
   */
  clModifyCallQoS(vcHandle: NdisVcHandle, callParameters: CoCallParameters): NdisStatus {
    return request(this.core, CL_MODIFY_CALL_QOS, vcHandle, callParameters);
  }

  /** Promise form of clModifyCallQoS. */
  clModifyCallQoSAsync(vcHandle: NdisVcHandle, callParameters: CoCallParameters): Promise<NdisStatus> {
    return this.core.arm(() => this.clModifyCallQoS(vcHandle, callParameters));
  }

  /** NdisCmModifyCallQoSComplete: SUCCESS must follow a successful re-activation (E63). */
  cmModifyCallQoSComplete(
    status: NdisStatus,
    vcHandle: NdisVcHandle,
    callParameters?: CoCallParameters,
  ): void {
    complete(this.core, MODIFY_QOS_COMPLETE.cm, status, vcHandle, callParameters);
  }

  /** NdisMCmModifyCallQoSComplete */
  mCmModifyCallQoSComplete(
    status: NdisStatus,
    vcHandle: NdisVcHandle,
    callParameters?: CoCallParameters,
  ): void {
    complete(this.core, MODIFY_QOS_COMPLETE.mcm, status, vcHandle, callParameters);
  }

  /**
   * NdisCmDispatchIncomingCallQoSChange: only after the miniport accepted the new parameters, i.e.
   * the VC's last successful activation carried this very parameter set (E64).
   */
  cmDispatchIncomingCallQoSChange(vcHandle: NdisVcHandle, callParameters: CoCallParameters): void {
    request(this.core, DISPATCH_QOS_CHANGE.cm, vcHandle, callParameters);
  }

  /** NdisMCmDispatchIncomingCallQoSChange */
  mCmDispatchIncomingCallQoSChange(vcHandle: NdisVcHandle, callParameters: CoCallParameters): void {
    request(this.core, DISPATCH_QOS_CHANGE.mcm, vcHandle, callParameters);
  }

  /**
   * NdisCoSendNetBufferLists: the client on a call VC, or the CM on its signalling VC. Always
   * asynchronous: every NBL comes back exactly once through ProtocolCoSendNetBufferListsComplete,
   * never inside this call. Under 'strict-core' NDIS completes the NBLs itself (§4.3: VC_NOT_ACTIVATED,
   * CLOSING, RESET_IN_PROGRESS) when the VC is not ready; otherwise it hands the list, in order, to
   * MiniportCoSendNetBufferLists and counts it in the VC's drain. Each NBL's sourceHandle must be
   * the VC's handle (E61). Hot path: no allocation.
   */
  coSendNetBufferLists(vcHandle: NdisVcHandle, nbls: NetBufferList, sendFlags: number): void {
    coSendNetBufferLists(this.core, vcHandle, nbls, sendFlags);
  }

  /**
   * NdisMCoSendNetBufferListsComplete: the miniport hands sends back (any grouping, any order,
   * E60). Each NBL is routed by its sourceHandle (E61) to the sender's
   * ProtocolCoSendNetBufferListsComplete, in a later turn; a second completion of the same NBL is
   * E59 and is dropped. The last completion of a deactivating VC may complete the deactivation.
   */
  mCoSendNetBufferListsComplete(
    vcHandle: NdisVcHandle,
    nbls: NetBufferList,
    sendCompleteFlags: number,
  ): void {
    mCoSendNetBufferListsComplete(this.core, vcHandle, nbls, sendCompleteFlags);
  }

  /**
   * NdisMCoIndicateReceiveNetBufferLists: receives on a VC, for the protocol that shares it.
   * Without NDIS_RECEIVE_FLAGS_RESOURCES the NBLs count in the drain until returned; with it they
   * are the miniport's again when this returns and never count (E45). On a VC that is not active
   * (E48) or whose call does not carry data yet (U5), NDIS gives the NBLs straight back to
   * MiniportReturnNetBufferLists without involving the protocol.
   */
  mCoIndicateReceiveNetBufferLists(
    vcHandle: NdisVcHandle,
    nbls: NetBufferList,
    numberOfNbls: number,
    coReceiveFlags: number,
  ): void {
    mCoIndicateReceiveNetBufferLists(this.core, vcHandle, nbls, numberOfNbls, coReceiveFlags);
  }

  /**
   * NdisReturnNetBufferLists: a protocol gives back received NBLs (any grouping, mixing
   * indications and VCs, E62). Each NBL releases one unit of its VC's rxHeld before NDIS calls
   * MiniportReturnNetBufferLists with the list; the last return of a deactivating VC may complete
   * the deactivation (E44).
   */
  returnNetBufferLists(binding: NdisBindingHandle, nbls: NetBufferList, returnFlags: number): void {
    returnNetBufferLists(this.core, binding, nbls, returnFlags);
  }

  /**
   * NdisMIndicateStatusEx for RESET_START / RESET_END (spec §1.2-J, E65): between the two, NDIS
   * completes every protocol send with RESET_IN_PROGRESS; handles stay valid. Bound protocols see
   * the status through ProtocolCoStatusEx.
   */
  mIndicateStatus(miniport: NdisMiniportHandle, status: NdisStatus): void {
    mIndicateStatus(this.core, miniport, status);
  }

  /** States and counters of a VC (undefined for a stale handle). */
  vcInfo(vcHandle: NdisVcHandle): VcInfo | undefined {
    const vc = this.core.vcs.bySource(vcHandle);
    if (!vc) return undefined;
    return {
      slot: vc.slot,
      activation: vc.a,
      call: vc.c,
      txInMiniport: vc.drain.txInMiniport,
      rxHeld: vc.drain.rxHeld,
      stopping: vc.drain.stopping,
      creator: vc.creator,
      mcm: vc.mcm,
      signalling: vc.signalling,
      callParameters: vc.params,
      activationPending: vc.act !== undefined,
      deactivationPending: vc.deact !== undefined,
    };
  }

  /** Number of live VCs (an MCM's internal signalling channels are never among them: E67). */
  get vcCount(): number {
    return this.core.vcs.live;
  }

  /** Deliveries queued and not yet run. */
  get pendingDeliveries(): number {
    return this.core.delivery.pending;
  }
}
