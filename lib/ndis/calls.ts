/**
 * The call axis of a VC (spec §1.2 rows E-H, §2.5): an outgoing call (NdisClMakeCall,
 * Ndis(M)CmMakeCallComplete), an incoming one (Ndis(M)CmDispatchIncomingCall,
 * NdisClIncomingCallComplete, Ndis(M)CmDispatchCallConnected), closing (NdisClCloseCall,
 * Ndis(M)CmCloseCallComplete, Ndis(M)CmDispatchIncomingCloseCall) and QoS
 * (NdisClModifyCallQoS, Ndis(M)CmModifyCallQoSComplete, Ndis(M)CmDispatchIncomingCallQoSChange).
 *
 * Functions over the NdisCore (core.ts); transitions go through interpreter.ts.
 */
import type { NdisSapHandle, NdisVcHandle } from './actors';
import type { CoCallParameters } from './call-parameters';
import type { NdisCore } from './core';
import { CondisErrorCode, ruleCode } from './errors';
import { applyC, callOutcome } from './interpreter';
import { type CloseReq, type MakeReq, type OfferReq, partyOf, type QosReq, type VcRec } from './registry';
import {
  NDIS_STATUS_FAILURE,
  NDIS_STATUS_INVALID_PARAMETER,
  NDIS_STATUS_NOT_ACCEPTED,
  NDIS_STATUS_NOT_SUPPORTED,
  NDIS_STATUS_PENDING,
  NDIS_STATUS_SUCCESS,
  NDIS_STATUS_VC_NOT_ACTIVATED,
  type NdisStatus,
} from './status';
import { callTransition } from './vc-states';

/**
 * NdisClMakeCall: the client, on a VC it created. NDIS calls the CM's ProtocolCmMakeCall; a
 * final status is the client's to handle, PENDING ends in ProtocolClMakeCallComplete with the
 * same CallParameters object (E24). Refused while a call is in progress; E36 if the VC must be
 * deleted instead.
 */
export function clMakeCall(
  core: NdisCore,
  vcHandle: NdisVcHandle,
  callParameters: CoCallParameters,
  protocolPartyContext?: unknown,
): NdisStatus {
  const name = 'NdisClMakeCall';
  const resolve = core.takeArmed();
  const vc = core.vcOf(vcHandle, name, 'client');
  if (!vc) return NDIS_STATUS_INVALID_PARAMETER;
  core.tr('call', 'Client', 'NDIS', name, vc);
  if (vc.creator !== 'client' || vc.mustDelete) {
    core.ret('Client', NDIS_STATUS_NOT_ACCEPTED, vc);
    if (vc.mustDelete)
      core.verifier.flag(
        ruleCode(36),
        `${name} on a VC closed with a failure CloseStatus: delete it`,
        core.snap(vc),
      );
    else
      core.verifier.flag(
        CondisErrorCode.WRONG_CALLER,
        `${name} on a VC the client did not create`,
        core.snap(vc),
      );
    return NDIS_STATUS_NOT_ACCEPTED;
  }
  void protocolPartyContext;
  return vc.mailbox.hold(() => {
    const out = callOutcome(core, vc, 'MAKE_CALL', name);
    if (out !== undefined) return core.ret('Client', out, vc);
    const req: MakeReq = { params: callParameters, pended: false, resolve };
    vc.make = req;
    const st = core.handler(partyOf(vc, 'cm'), 'ProtocolCmMakeCall', vc, () =>
      vc.reg.handlers.cmMakeCall
        ? vc.reg.handlers.cmMakeCall(vc.ctx.cm, callParameters, undefined)
        : NDIS_STATUS_NOT_SUPPORTED,
    );
    if (st === NDIS_STATUS_PENDING) {
      req.pended = true;
      return core.ret('Client', st, vc);
    }
    return core.ret('Client', finishMakeCall(core, vc, st, undefined), vc);
  });
}

/** NdisCmMakeCallComplete: SUCCESS only once the VC is active (E21). */
export function cmMakeCallComplete(
  core: NdisCore,
  status: NdisStatus,
  vcHandle: NdisVcHandle,
  ndisPartyHandle?: unknown,
  callMgrPartyContext?: unknown,
  callParameters?: CoCallParameters,
): void {
  void ndisPartyHandle;
  void callMgrPartyContext;
  makeCallComplete(core, status, vcHandle, callParameters, 'NdisCmMakeCallComplete', false);
}

/** NdisMCmMakeCallComplete */
export function mCmMakeCallComplete(
  core: NdisCore,
  status: NdisStatus,
  vcHandle: NdisVcHandle,
  ndisPartyHandle?: unknown,
  callMgrPartyContext?: unknown,
  callParameters?: CoCallParameters,
): void {
  void ndisPartyHandle;
  void callMgrPartyContext;
  makeCallComplete(core, status, vcHandle, callParameters, 'NdisMCmMakeCallComplete', true);
}

function makeCallComplete(
  core: NdisCore,
  status: NdisStatus,
  vcHandle: NdisVcHandle,
  params: CoCallParameters | undefined,
  name: string,
  mcm: boolean,
): void {
  const vc = core.vcOf(vcHandle, name, 'cm');
  if (!vc) return;
  core.tr('complete-call', partyOf(vc, 'cm'), 'NDIS', name, vc, status);
  if (vc.mcm !== mcm) core.wrongVariant(vc, name);
  if (status === NDIS_STATUS_PENDING) {
    core.verifier.flag(ruleCode(19), `${name} with PENDING`, core.snap(vc));
    return;
  }
  vc.mailbox.post(() => {
    if (!vc.make?.pended)
      return core.verifier.flag(ruleCode(20), `${name} without a pended ProtocolCmMakeCall`, core.snap(vc));
    finishMakeCall(core, vc, status, params);
  });
}

function finishMakeCall(
  core: NdisCore,
  vc: VcRec,
  status: NdisStatus,
  params: CoCallParameters | undefined,
): NdisStatus {
  const req = vc.make!;
  vc.make = undefined;
  if (params && params !== req.params) Object.assign(req.params, params);
  let final = status;
  const active = vc.a === 'ACTIVE' || vc.a === 'REACTIVATING';
  if (status === NDIS_STATUS_SUCCESS && !active) final = NDIS_STATUS_FAILURE; // E21, flagged below
  applyC(core, vc, final === NDIS_STATUS_SUCCESS ? 'MAKE_CALL_OK' : 'MAKE_CALL_FAIL');
  if (req.pended) {
    core.delivery.deliver(() => {
      core.tr('deliver', 'NDIS', 'Client', 'ProtocolClMakeCallComplete', vc, final);
      vc.af?.clientHandlers.clMakeCallComplete?.(final, vc.ctx.client, undefined, req.params);
      req.resolve?.(final);
    }, vc);
  }
  if (final !== status)
    core.verifier.flag(
      ruleCode(21),
      'make-call completed with SUCCESS on a VC that is not active',
      core.snap(vc),
    );
  return final;
}

/**
 * NdisCmDispatchIncomingCall: the CM offers a call on a VC it created and activated (E25).
 * NDIS calls the SAP owner's ProtocolClIncomingCall: SUCCESS accepts, PENDING ends in
 * ProtocolCmIncomingCallComplete, anything else rejects (the CM then deactivates).
 */
export function cmDispatchIncomingCall(
  core: NdisCore,
  sapHandle: NdisSapHandle,
  vcHandle: NdisVcHandle,
  callParameters: CoCallParameters,
): NdisStatus {
  return dispatchIncomingCall(core, sapHandle, vcHandle, callParameters, 'NdisCmDispatchIncomingCall', false);
}

/** NdisMCmDispatchIncomingCall */
export function mCmDispatchIncomingCall(
  core: NdisCore,
  sapHandle: NdisSapHandle,
  vcHandle: NdisVcHandle,
  callParameters: CoCallParameters,
): NdisStatus {
  return dispatchIncomingCall(core, sapHandle, vcHandle, callParameters, 'NdisMCmDispatchIncomingCall', true);
}

export function dispatchIncomingCall(
  core: NdisCore,
  sapHandle: NdisSapHandle,
  vcHandle: NdisVcHandle,
  params: CoCallParameters,
  name: string,
  mcm: boolean,
): NdisStatus {
  const resolve = core.takeArmed();
  const vc = core.vcOf(vcHandle, name, 'cm');
  if (!vc) return NDIS_STATUS_INVALID_PARAMETER;
  const party = partyOf(vc, 'cm');
  core.tr('call', party, 'NDIS', name, vc);
  if (vc.mcm !== mcm) core.wrongVariant(vc, name);
  const sap = core.saps.get(sapHandle);
  if (sap?.state !== 'open' || sap.af !== vc.af) return core.ret(party, NDIS_STATUS_FAILURE, vc);
  if (vc.a !== 'ACTIVE') {
    core.ret(party, NDIS_STATUS_VC_NOT_ACTIVATED, vc);
    core.verifier.flag(ruleCode(25), `${name} on a VC that is not active`, core.snap(vc));
    return NDIS_STATUS_VC_NOT_ACTIVATED;
  }
  return vc.mailbox.hold(() => {
    const out = callOutcome(core, vc, 'INCOMING_CALL', name);
    if (out !== undefined) return core.ret(party, out, vc);
    vc.clientDetached = false;
    const req: OfferReq = { params, pended: false, resolve };
    vc.offer = req;
    const client = sap.af.clientHandlers;
    const st = core.handler('Client', 'ProtocolClIncomingCall', vc, () =>
      client.clIncomingCall
        ? client.clIncomingCall(sap.clientSapContext, vc.ctx.client, params)
        : NDIS_STATUS_NOT_SUPPORTED,
    );
    if (st === NDIS_STATUS_PENDING) {
      req.pended = true;
      return core.ret(party, st, vc);
    }
    finishOffer(core, vc, st);
    return core.ret(party, st, vc);
  });
}

/** NdisClIncomingCallComplete: the client's answer to an offer it pended. */
export function clIncomingCallComplete(
  core: NdisCore,
  status: NdisStatus,
  vcHandle: NdisVcHandle,
  callParameters?: CoCallParameters,
): void {
  const name = 'NdisClIncomingCallComplete';
  const vc = core.vcOf(vcHandle, name, 'client');
  if (!vc) return;
  core.tr('complete-call', 'Client', 'NDIS', name, vc, status);
  if (status === NDIS_STATUS_PENDING) {
    core.verifier.flag(ruleCode(19), `${name} with PENDING`, core.snap(vc));
    return;
  }
  vc.mailbox.post(() => {
    const req = vc.offer;
    if (!req?.pended)
      return core.verifier.flag(ruleCode(20), `${name} without a pended offer`, core.snap(vc));
    if (callParameters && callParameters !== req.params) Object.assign(req.params, callParameters);
    finishOffer(core, vc, status);
  });
}

function finishOffer(core: NdisCore, vc: VcRec, status: NdisStatus): void {
  const req = vc.offer!;
  vc.offer = undefined;
  applyC(core, vc, status === NDIS_STATUS_SUCCESS ? 'INCOMING_ACCEPT' : 'INCOMING_REJECT');
  if (!req.pended) return;
  core.delivery.deliver(() => {
    core.tr('deliver', 'NDIS', partyOf(vc, 'cm'), 'ProtocolCmIncomingCallComplete', vc, status);
    vc.reg.handlers.cmIncomingCallComplete?.(status, vc.ctx.cm, req.params);
    req.resolve?.(status);
  }, vc);
}

/** NdisCmDispatchCallConnected: only after the client accepted, never after an incoming close (E29). */
export function cmDispatchCallConnected(core: NdisCore, vcHandle: NdisVcHandle): void {
  dispatchCallConnected(core, vcHandle, 'NdisCmDispatchCallConnected', false);
}

/** NdisMCmDispatchCallConnected */
export function mCmDispatchCallConnected(core: NdisCore, vcHandle: NdisVcHandle): void {
  dispatchCallConnected(core, vcHandle, 'NdisMCmDispatchCallConnected', true);
}

function dispatchCallConnected(core: NdisCore, vcHandle: NdisVcHandle, name: string, mcm: boolean): void {
  const vc = core.vcOf(vcHandle, name, 'cm');
  if (!vc) return;
  core.tr('call', partyOf(vc, 'cm'), 'NDIS', name, vc);
  if (vc.mcm !== mcm) core.wrongVariant(vc, name);
  vc.mailbox.hold(() => {
    const out = callTransition(vc.c, 'CALL_CONNECTED');
    if (!out || out.refuse !== undefined) {
      return core.verifier.flag(ruleCode(29), `${name} in call state ${vc.c} (not ACCEPTED)`, core.snap(vc));
    }
    core.setC(vc, out.next);
    core.handler('Client', 'ProtocolClCallConnected', vc, () => {
      vc.af?.clientHandlers.clCallConnected?.(vc.ctx.client);
      return undefined;
    });
  });
}

/**
 * NdisClCloseCall: NDIS marks the call closing (sends now complete with CLOSING) and calls the
 * CM's ProtocolCmCloseCall, which tears down and deactivates. Final status: the client's to
 * handle; PENDING ends in ProtocolClCloseCallComplete, whose SUCCESS means the VC is inactive
 * (E34). Refused while the make-call is pending (U6). Sends still in the miniport are E31.
 */
export function clCloseCall(
  core: NdisCore,
  vcHandle: NdisVcHandle,
  ndisPartyHandle?: unknown,
  closeData?: Uint8Array,
): NdisStatus {
  const name = 'NdisClCloseCall';
  const resolve = core.takeArmed();
  const vc = core.vcOf(vcHandle, name, 'client');
  if (!vc) return NDIS_STATUS_INVALID_PARAMETER;
  core.tr('call', 'Client', 'NDIS', name, vc);
  void ndisPartyHandle;
  if (vc.clientDetached) return core.detached(vc, name);
  return vc.mailbox.hold(() => {
    const out = callOutcome(core, vc, 'CLOSE_CALL', name);
    if (out !== undefined) return core.ret('Client', out, vc);
    const sendsOut = vc.drain.txInMiniport;
    const req: CloseReq = { pended: false, resolve, partyContext: undefined };
    vc.close = req;
    const st = core.handler(partyOf(vc, 'cm'), 'ProtocolCmCloseCall', vc, () =>
      vc.reg.handlers.cmCloseCall
        ? vc.reg.handlers.cmCloseCall(vc.ctx.cm, undefined, closeData)
        : NDIS_STATUS_SUCCESS,
    );
    let final = st;
    if (st === NDIS_STATUS_PENDING) req.pended = true;
    else final = finishClose(core, vc, st, req);
    const r = core.ret('Client', final, vc);
    if (sendsOut > 0) {
      core.verifier.flag(
        ruleCode(31),
        `${name} with ${sendsOut} send(s) still in the miniport`,
        core.snap(vc),
      );
    }
    return r;
  });
}

/** NdisCmCloseCallComplete: SUCCESS only once the VC's deactivation has completed (E34, spec §5 C1). */
export function cmCloseCallComplete(
  core: NdisCore,
  status: NdisStatus,
  vcHandle: NdisVcHandle,
  ndisPartyHandle?: unknown,
): void {
  void ndisPartyHandle;
  closeCallComplete(core, status, vcHandle, 'NdisCmCloseCallComplete', false);
}

/** NdisMCmCloseCallComplete */
export function mCmCloseCallComplete(
  core: NdisCore,
  status: NdisStatus,
  vcHandle: NdisVcHandle,
  ndisPartyHandle?: unknown,
): void {
  void ndisPartyHandle;
  closeCallComplete(core, status, vcHandle, 'NdisMCmCloseCallComplete', true);
}

function closeCallComplete(
  core: NdisCore,
  status: NdisStatus,
  vcHandle: NdisVcHandle,
  name: string,
  mcm: boolean,
): void {
  const vc = core.vcOf(vcHandle, name, 'cm');
  if (!vc) return;
  core.tr('complete-call', partyOf(vc, 'cm'), 'NDIS', name, vc, status);
  if (vc.mcm !== mcm) core.wrongVariant(vc, name);
  if (status === NDIS_STATUS_PENDING) {
    core.verifier.flag(ruleCode(19), `${name} with PENDING`, core.snap(vc));
    return;
  }
  vc.mailbox.post(() => {
    const req = vc.close;
    if (!req?.pended)
      return core.verifier.flag(ruleCode(20), `${name} without a pended ProtocolCmCloseCall`, core.snap(vc));
    if (status === NDIS_STATUS_SUCCESS && vc.a === 'DEACTIVATING') {
      // E34: hold the close completion until the deactivation has completed.
      vc.close = undefined;
      vc.heldClose = { status, req };
      return core.verifier.flag(
        ruleCode(34),
        `${name}(SUCCESS) while the deactivation is pending`,
        core.snap(vc),
      );
    }
    finishClose(core, vc, status, req);
  });
}

export function finishClose(core: NdisCore, vc: VcRec, status: NdisStatus, req: CloseReq): NdisStatus {
  if (vc.close === req) vc.close = undefined;
  const inactive = vc.a === 'INACTIVE';
  applyC(core, vc, status === NDIS_STATUS_SUCCESS ? 'CLOSE_OK' : 'CLOSE_FAIL');
  if (status === NDIS_STATUS_SUCCESS && vc.creator !== 'client') vc.clientDetached = true;
  if (req.pended) {
    core.delivery.deliver(() => {
      core.tr('deliver', 'NDIS', 'Client', 'ProtocolClCloseCallComplete', vc, status);
      vc.af?.clientHandlers.clCloseCallComplete?.(status, vc.ctx.client, req.partyContext);
      req.resolve?.(status);
    }, vc);
  }
  if (status === NDIS_STATUS_SUCCESS && !inactive) {
    core.verifier.flag(
      ruleCode(34),
      'close completed with SUCCESS on a VC that is not inactive',
      core.snap(vc),
    );
  }
  return status;
}

/**
 * NdisCmDispatchIncomingCloseCall: remote hang-up, network failure, or unacceptable client
 * parameters. Calls ProtocolClIncomingCloseCall; changes nothing on the activation axis (E35).
 * On a client-created VC a failure CloseStatus means the client must delete the VC (E36).
 */
export function cmDispatchIncomingCloseCall(
  core: NdisCore,
  closeStatus: NdisStatus,
  vcHandle: NdisVcHandle,
  closeData?: Uint8Array,
): void {
  dispatchIncomingClose(core, closeStatus, vcHandle, closeData, 'NdisCmDispatchIncomingCloseCall', false);
}

/** NdisMCmDispatchIncomingCloseCall */
export function mCmDispatchIncomingCloseCall(
  core: NdisCore,
  closeStatus: NdisStatus,
  vcHandle: NdisVcHandle,
  closeData?: Uint8Array,
): void {
  dispatchIncomingClose(core, closeStatus, vcHandle, closeData, 'NdisMCmDispatchIncomingCloseCall', true);
}

function dispatchIncomingClose(
  core: NdisCore,
  closeStatus: NdisStatus,
  vcHandle: NdisVcHandle,
  closeData: Uint8Array | undefined,
  name: string,
  mcm: boolean,
): void {
  const vc = core.vcOf(vcHandle, name, 'cm');
  if (!vc) return;
  core.tr('call', partyOf(vc, 'cm'), 'NDIS', name, vc, closeStatus);
  if (vc.mcm !== mcm) core.wrongVariant(vc, name);
  vc.mailbox.hold(() => {
    const out = callTransition(vc.c, 'INCOMING_CLOSE');
    if (!out || out.refuse !== undefined) return void core.badTransition(vc, 'INCOMING_CLOSE', name);
    core.setC(vc, out.next);
    if (vc.creator === 'client' && closeStatus !== NDIS_STATUS_SUCCESS) vc.mustDelete = true;
    core.handler('Client', 'ProtocolClIncomingCloseCall', vc, () => {
      vc.af?.clientHandlers.clIncomingCloseCall?.(closeStatus, vc.ctx.client, closeData);
      return undefined;
    });
  });
}

/**
 * NdisClModifyCallQoS: on a connected call, or on an offered call before answering it (E27).
 * NDIS calls ProtocolCmModifyCallQoS; PENDING ends in ProtocolClModifyCallQoSComplete. One at a time.
 */
export function clModifyCallQoS(
  core: NdisCore,
  vcHandle: NdisVcHandle,
  callParameters: CoCallParameters,
): NdisStatus {
  const name = 'NdisClModifyCallQoS';
  const resolve = core.takeArmed();
  const vc = core.vcOf(vcHandle, name, 'client');
  if (!vc) return NDIS_STATUS_INVALID_PARAMETER;
  core.tr('call', 'Client', 'NDIS', name, vc);
  if (vc.clientDetached) return core.detached(vc, name);
  return vc.mailbox.hold(() => {
    if (vc.qos) return core.ret('Client', NDIS_STATUS_NOT_ACCEPTED, vc);
    const out = callOutcome(core, vc, 'MODIFY_QOS', name);
    if (out !== undefined) return core.ret('Client', out, vc);
    const req: QosReq = {
      params: callParameters,
      pended: false,
      resolve,
      activationsAtStart: vc.activationsOk,
    };
    vc.qos = req;
    const st = core.handler(partyOf(vc, 'cm'), 'ProtocolCmModifyCallQoS', vc, () =>
      vc.reg.handlers.cmModifyCallQoS
        ? vc.reg.handlers.cmModifyCallQoS(vc.ctx.cm, callParameters)
        : NDIS_STATUS_NOT_SUPPORTED,
    );
    if (st === NDIS_STATUS_PENDING) {
      req.pended = true;
      return core.ret('Client', st, vc);
    }
    return core.ret('Client', finishQos(core, vc, st, undefined), vc);
  });
}

/** NdisCmModifyCallQoSComplete: SUCCESS must follow a successful re-activation (E63). */
export function cmModifyCallQoSComplete(
  core: NdisCore,
  status: NdisStatus,
  vcHandle: NdisVcHandle,
  callParameters?: CoCallParameters,
): void {
  modifyQosComplete(core, status, vcHandle, callParameters, 'NdisCmModifyCallQoSComplete', false);
}

/** NdisMCmModifyCallQoSComplete */
export function mCmModifyCallQoSComplete(
  core: NdisCore,
  status: NdisStatus,
  vcHandle: NdisVcHandle,
  callParameters?: CoCallParameters,
): void {
  modifyQosComplete(core, status, vcHandle, callParameters, 'NdisMCmModifyCallQoSComplete', true);
}

function modifyQosComplete(
  core: NdisCore,
  status: NdisStatus,
  vcHandle: NdisVcHandle,
  params: CoCallParameters | undefined,
  name: string,
  mcm: boolean,
): void {
  const vc = core.vcOf(vcHandle, name, 'cm');
  if (!vc) return;
  core.tr('complete-call', partyOf(vc, 'cm'), 'NDIS', name, vc, status);
  if (vc.mcm !== mcm) core.wrongVariant(vc, name);
  if (status === NDIS_STATUS_PENDING) {
    core.verifier.flag(ruleCode(19), `${name} with PENDING`, core.snap(vc));
    return;
  }
  vc.mailbox.post(() => {
    if (!vc.qos?.pended)
      return core.verifier.flag(ruleCode(20), `${name} without a pended QoS change`, core.snap(vc));
    finishQos(core, vc, status, params);
  });
}

function finishQos(
  core: NdisCore,
  vc: VcRec,
  status: NdisStatus,
  params: CoCallParameters | undefined,
): NdisStatus {
  const req = vc.qos!;
  vc.qos = undefined;
  if (params && params !== req.params) Object.assign(req.params, params);
  const out = callTransition(vc.c, 'MODIFY_QOS_DONE');
  if (out && out.refuse === undefined) core.setC(vc, out.next);
  const unactivated = status === NDIS_STATUS_SUCCESS && vc.activationsOk === req.activationsAtStart;
  if (req.pended) {
    core.delivery.deliver(() => {
      core.tr('deliver', 'NDIS', 'Client', 'ProtocolClModifyCallQoSComplete', vc, status);
      vc.af?.clientHandlers.clModifyCallQoSComplete?.(status, vc.ctx.client, req.params);
      req.resolve?.(status);
    }, vc);
  }
  if (unactivated) {
    core.verifier.flag(
      ruleCode(63),
      'QoS change completed with SUCCESS without a successful re-activation',
      core.snap(vc),
    );
  }
  return status;
}

/**
 * NdisCmDispatchIncomingCallQoSChange: only after the miniport accepted the new parameters, i.e.
 * the VC's last successful activation carried this very parameter set (E64).
 */
export function cmDispatchIncomingCallQoSChange(
  core: NdisCore,
  vcHandle: NdisVcHandle,
  callParameters: CoCallParameters,
): void {
  dispatchQosChange(core, vcHandle, callParameters, 'NdisCmDispatchIncomingCallQoSChange', false);
}

/** NdisMCmDispatchIncomingCallQoSChange */
export function mCmDispatchIncomingCallQoSChange(
  core: NdisCore,
  vcHandle: NdisVcHandle,
  callParameters: CoCallParameters,
): void {
  dispatchQosChange(core, vcHandle, callParameters, 'NdisMCmDispatchIncomingCallQoSChange', true);
}

function dispatchQosChange(
  core: NdisCore,
  vcHandle: NdisVcHandle,
  params: CoCallParameters,
  name: string,
  mcm: boolean,
): void {
  const vc = core.vcOf(vcHandle, name, 'cm');
  if (!vc) return;
  core.tr('call', partyOf(vc, 'cm'), 'NDIS', name, vc);
  if (vc.mcm !== mcm) core.wrongVariant(vc, name);
  vc.mailbox.hold(() => {
    const out = callTransition(vc.c, 'QOS_CHANGE_INDICATED');
    if (!out || out.refuse !== undefined) return void core.badTransition(vc, 'QOS_CHANGE_INDICATED', name);
    if (vc.a !== 'ACTIVE' || vc.lastActivated !== params) {
      return core.verifier.flag(
        ruleCode(64),
        `${name} before the miniport accepted these parameters`,
        core.snap(vc),
      );
    }
    core.setC(vc, out.next);
    core.handler('Client', 'ProtocolClIncomingCallQoSChange', vc, () => {
      vc.af?.clientHandlers.clIncomingCallQoSChange?.(vc.ctx.client, params);
      return undefined;
    });
  });
}
