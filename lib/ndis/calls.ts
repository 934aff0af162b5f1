/**
 * The call axis of a VC (spec §1.2 rows E-H, §2.5, K1-K15): an outgoing call (NdisClMakeCall,
 * Ndis(M)CmMakeCallComplete), an incoming one (Ndis(M)CmDispatchIncomingCall,
 * NdisClIncomingCallComplete, Ndis(M)CmDispatchCallConnected), closing (NdisClCloseCall,
 * Ndis(M)CmCloseCallComplete, Ndis(M)CmDispatchIncomingCloseCall) and QoS
 * (NdisClModifyCallQoS, Ndis(M)CmModifyCallQoSComplete, Ndis(M)CmDispatchIncomingCallQoSChange).
 *
 * Each request is a descriptor run by request.ts (the Cm/MCm twins are one descriptor with a
 * variant); each finishX ends a request, now or from its completion. Over the NdisCore (core.ts).
 */
import type { NdisSapHandle, NdisVcHandle } from './actors';
import type { CoCallParameters } from './call-parameters';
import type { NdisCore } from './core';
import { CondisErrorCode, ruleCode } from './errors';
import { applyC, applyCIfAny } from './interpreter';
import {
  type CloseReq,
  type MakeReq,
  type OfferReq,
  partyOf,
  type QosReq,
  type SapRec,
  type VcRec,
} from './registry';
import { type CompletionSpec, type RequestSpec, request, twins } from './request';
import {
  NDIS_STATUS_FAILURE,
  NDIS_STATUS_NOT_ACCEPTED,
  NDIS_STATUS_NOT_SUPPORTED,
  NDIS_STATUS_SUCCESS,
  NDIS_STATUS_VC_NOT_ACTIVATED,
  type NdisStatus,
} from './status';

/** A completion that may carry the CallParameters the CM settled on (copied into the request's). */
type WithParams = CoCallParameters | undefined;

// ---------------------------------------------------------------------------------------------
// E. Outgoing call

/**
 * NdisClMakeCall: the client, on a VC it created. NDIS calls the CM's ProtocolCmMakeCall; a
 * final status is the client's to handle, PENDING ends in ProtocolClMakeCallComplete with the
 * same CallParameters object (E24). Refused while a call is in progress; E36 if the VC must be
 * deleted instead.
 */
export const CL_MAKE_CALL: RequestSpec<CoCallParameters> = {
  name: 'NdisClMakeCall',
  role: 'client',
  caller: 'client',
  admit: (core, vc, cx) => {
    if (vc.creator === 'client' && !vc.mustDelete) return undefined;
    core.ret('Client', NDIS_STATUS_NOT_ACCEPTED, vc);
    if (vc.mustDelete)
      core.flag(ruleCode(36), `${cx.name} on a VC closed with a failure CloseStatus: delete it`, vc);
    else core.flag(CondisErrorCode.WRONG_CALLER, `${cx.name} on a VC the client did not create`, vc);
    return NDIS_STATUS_NOT_ACCEPTED;
  },
  axis: 'call',
  event: 'MAKE_CALL',
  open: (_core, vc, cx) => {
    const req: MakeReq = { params: cx.args, pended: false, resolve: cx.resolve };
    vc.make = req;
    return req;
  },
  peer: (core, vc, cx) =>
    core.handler(partyOf(vc, 'cm'), 'ProtocolCmMakeCall', vc, () =>
      vc.reg.handlers.cmMakeCall
        ? vc.reg.handlers.cmMakeCall(vc.ctx.cm, cx.args, undefined)
        : NDIS_STATUS_NOT_SUPPORTED,
    ),
  finish: (core, vc, _cx, st) => finishMakeCall(core, vc, st, undefined),
};

/** Ndis(M)CmMakeCallComplete: SUCCESS only once the VC is active (E21). */
export const MAKE_CALL_COMPLETE = twins<CompletionSpec<WithParams>>(
  {
    role: 'cm',
    caller: 'cm',
    pendingText: 'with PENDING',
    pending: (vc) => (vc.make?.pended ? vc.make : undefined),
    without: 'without a pended ProtocolCmMakeCall',
    finish: (core, vc, status, params) => void finishMakeCall(core, vc, status, params),
  },
  'NdisCmMakeCallComplete',
  'NdisMCmMakeCallComplete',
);

function finishMakeCall(core: NdisCore, vc: VcRec, status: NdisStatus, params: WithParams): NdisStatus {
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
    core.flag(ruleCode(21), 'make-call completed with SUCCESS on a VC that is not active', vc);
  return final;
}

// ---------------------------------------------------------------------------------------------
// F. Incoming call

export interface IncomingCallArgs {
  readonly sap: SapRec | undefined;
  readonly params: CoCallParameters;
}

const INCOMING_CALL_SPEC: Omit<RequestSpec<IncomingCallArgs>, 'name' | 'variant'> = {
  role: 'cm',
  caller: 'cm',
  admit: (core, vc, cx) => {
    const sap = cx.args.sap;
    if (sap?.state !== 'open' || sap.af !== vc.af) return core.ret(cx.party, NDIS_STATUS_FAILURE, vc);
    if (vc.a === 'ACTIVE') return undefined;
    core.ret(cx.party, NDIS_STATUS_VC_NOT_ACTIVATED, vc);
    core.flag(ruleCode(25), `${cx.name} on a VC that is not active`, vc);
    return NDIS_STATUS_VC_NOT_ACTIVATED;
  },
  axis: 'call',
  event: 'INCOMING_CALL',
  open: (_core, vc, cx) => {
    vc.clientDetached = false;
    const req: OfferReq = { params: cx.args.params, pended: false, resolve: cx.resolve };
    vc.offer = req;
    return req;
  },
  peer: (core, vc, cx) => {
    const sap = cx.args.sap!;
    const client = sap.af.clientHandlers;
    return core.handler('Client', 'ProtocolClIncomingCall', vc, () =>
      client.clIncomingCall
        ? client.clIncomingCall(sap.clientSapContext, vc.ctx.client, cx.args.params)
        : NDIS_STATUS_NOT_SUPPORTED,
    );
  },
  finish: (core, vc, _cx, st) => {
    finishOffer(core, vc, st);
    return st;
  },
};

/**
 * Ndis(M)CmDispatchIncomingCall: the CM offers a call on a VC it created and activated (E25).
 * NDIS calls the SAP owner's ProtocolClIncomingCall: SUCCESS accepts, PENDING ends in
 * ProtocolCmIncomingCallComplete, anything else rejects (the CM then deactivates).
 */
export const DISPATCH_INCOMING_CALL = twins<RequestSpec<IncomingCallArgs>>(
  INCOMING_CALL_SPEC,
  'NdisCmDispatchIncomingCall',
  'NdisMCmDispatchIncomingCall',
);
/** Run an incoming-call descriptor: the SAP is resolved here, checked by the descriptor. */
export function dispatchIncomingCall(
  core: NdisCore,
  spec: RequestSpec<IncomingCallArgs>,
  sapHandle: NdisSapHandle,
  vcHandle: NdisVcHandle,
  params: CoCallParameters,
): NdisStatus {
  return request(core, spec, vcHandle, { sap: core.saps.get(sapHandle), params });
}

/** dispatchIncomingCallAsync: either variant, under the stand-alone name. */
export const DISPATCH_INCOMING_CALL_EITHER: RequestSpec<IncomingCallArgs> = {
  ...INCOMING_CALL_SPEC,
  name: 'NdisCmDispatchIncomingCall',
};

/** NdisClIncomingCallComplete: the client's answer to an offer it pended. */
export const CL_INCOMING_CALL_COMPLETE: CompletionSpec<WithParams> = {
  name: 'NdisClIncomingCallComplete',
  role: 'client',
  caller: 'client',
  pendingText: 'with PENDING',
  pending: (vc) => (vc.offer?.pended ? vc.offer : undefined),
  without: 'without a pended offer',
  finish: (core, vc, status, params) => {
    const req = vc.offer!;
    if (params && params !== req.params) Object.assign(req.params, params);
    finishOffer(core, vc, status);
  },
};

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

/** Ndis(M)CmDispatchCallConnected: only after the client accepted, never after an incoming close (E29). */
export const DISPATCH_CALL_CONNECTED = twins<RequestSpec<undefined>>(
  {
    role: 'cm',
    caller: 'cm',
    axis: 'call',
    event: 'CALL_CONNECTED',
    quiet: true,
    refused: (core, vc, cx) => core.flag(ruleCode(29), `${cx.name} in call state ${vc.c} (not ACCEPTED)`, vc),
    peer: (core, vc) =>
      core.handler('Client', 'ProtocolClCallConnected', vc, () => {
        vc.af?.clientHandlers.clCallConnected?.(vc.ctx.client);
        return undefined;
      }),
  },
  'NdisCmDispatchCallConnected',
  'NdisMCmDispatchCallConnected',
);

// ---------------------------------------------------------------------------------------------
// G. Closing a call

export interface CloseArgs {
  readonly closeData: Uint8Array | undefined;
}

/**
 * NdisClCloseCall: NDIS marks the call closing (sends now complete with CLOSING) and calls the
 * CM's ProtocolCmCloseCall, which tears down and deactivates. Final status: the client's to
 * handle; PENDING ends in ProtocolClCloseCallComplete, whose SUCCESS means the VC is inactive
 * (E34). Refused while the make-call is pending (U6). Sends still in the miniport are E31.
 */
export const CL_CLOSE_CALL: RequestSpec<CloseArgs> = {
  name: 'NdisClCloseCall',
  role: 'client',
  caller: 'client',
  admit: (core, vc, cx) => (vc.clientDetached ? core.detached(vc, cx.name) : undefined),
  axis: 'call',
  event: 'CLOSE_CALL',
  open: (_core, vc, cx) => {
    const req: CloseReq = {
      pended: false,
      resolve: cx.resolve,
      partyContext: undefined,
      sendsAtClose: vc.drain.txInMiniport,
    };
    vc.close = req;
    return req;
  },
  peer: (core, vc, cx) =>
    core.handler(partyOf(vc, 'cm'), 'ProtocolCmCloseCall', vc, () =>
      vc.reg.handlers.cmCloseCall
        ? vc.reg.handlers.cmCloseCall(vc.ctx.cm, undefined, cx.args.closeData)
        : NDIS_STATUS_SUCCESS,
    ),
  finish: (core, vc, cx, st) => finishClose(core, vc, st, cx.req as CloseReq),
  after: (core, vc, cx) => {
    const n = (cx.req as CloseReq).sendsAtClose;
    if (n > 0) core.flag(ruleCode(31), `${cx.name} with ${n} send(s) still in the miniport`, vc);
  },
};

/** Ndis(M)CmCloseCallComplete: SUCCESS only once the VC's deactivation has completed (E34, spec §5 C1). */
export const CLOSE_CALL_COMPLETE = twins<CompletionSpec<undefined>>(
  {
    role: 'cm',
    caller: 'cm',
    pendingText: 'with PENDING',
    pending: (vc) => (vc.close?.pended ? vc.close : undefined),
    without: 'without a pended ProtocolCmCloseCall',
    finish: (core, vc, status, _args, name) => {
      const req = vc.close!;
      if (status === NDIS_STATUS_SUCCESS && vc.a === 'DEACTIVATING') {
        // E34: hold the close completion until the deactivation has completed.
        vc.close = undefined;
        vc.heldClose = { status, req };
        core.flag(ruleCode(34), `${name}(SUCCESS) while the deactivation is pending`, vc);
        return;
      }
      finishClose(core, vc, status, req);
    },
  },
  'NdisCmCloseCallComplete',
  'NdisMCmCloseCallComplete',
);

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
  if (status === NDIS_STATUS_SUCCESS && !inactive)
    core.flag(ruleCode(34), 'close completed with SUCCESS on a VC that is not inactive', vc);
  return status;
}

export interface IncomingCloseArgs {
  readonly closeStatus: NdisStatus;
  readonly closeData: Uint8Array | undefined;
}

/**
 * Ndis(M)CmDispatchIncomingCloseCall: remote hang-up, network failure, or unacceptable client
 * parameters. Calls ProtocolClIncomingCloseCall; changes nothing on the activation axis (E35).
 * On a client-created VC a failure CloseStatus means the client must delete the VC (E36).
 */
export const DISPATCH_INCOMING_CLOSE = twins<RequestSpec<IncomingCloseArgs>>(
  {
    role: 'cm',
    caller: 'cm',
    traceStatus: (a) => a.closeStatus,
    axis: 'call',
    event: 'INCOMING_CLOSE',
    quiet: true,
    refused: (core, vc, cx, event) => void core.badTransition(vc, event, cx.name),
    peer: (core, vc, cx) => {
      const { closeStatus, closeData } = cx.args;
      if (vc.creator === 'client' && closeStatus !== NDIS_STATUS_SUCCESS) vc.mustDelete = true;
      return core.handler('Client', 'ProtocolClIncomingCloseCall', vc, () => {
        vc.af?.clientHandlers.clIncomingCloseCall?.(closeStatus, vc.ctx.client, closeData);
        return undefined;
      });
    },
  },
  'NdisCmDispatchIncomingCloseCall',
  'NdisMCmDispatchIncomingCloseCall',
);

// ---------------------------------------------------------------------------------------------
// H. QoS

/**
 * NdisClModifyCallQoS: on a connected call, or on an offered call before answering it (E27).
 * NDIS calls ProtocolCmModifyCallQoS; PENDING ends in ProtocolClModifyCallQoSComplete. One at a time.
 */
export const CL_MODIFY_CALL_QOS: RequestSpec<CoCallParameters> = {
  name: 'NdisClModifyCallQoS',
  role: 'client',
  caller: 'client',
  admit: (core, vc, cx) => (vc.clientDetached ? core.detached(vc, cx.name) : undefined),
  busy: (vc) => vc.qos !== undefined,
  axis: 'call',
  event: 'MODIFY_QOS',
  open: (_core, vc, cx) => {
    const req: QosReq = {
      params: cx.args,
      pended: false,
      resolve: cx.resolve,
      activationsAtStart: vc.activationsOk,
    };
    vc.qos = req;
    return req;
  },
  peer: (core, vc, cx) =>
    core.handler(partyOf(vc, 'cm'), 'ProtocolCmModifyCallQoS', vc, () =>
      vc.reg.handlers.cmModifyCallQoS
        ? vc.reg.handlers.cmModifyCallQoS(vc.ctx.cm, cx.args)
        : NDIS_STATUS_NOT_SUPPORTED,
    ),
  finish: (core, vc, _cx, st) => finishQos(core, vc, st, undefined),
};

/** Ndis(M)CmModifyCallQoSComplete: SUCCESS must follow a successful re-activation (E63). */
export const MODIFY_QOS_COMPLETE = twins<CompletionSpec<WithParams>>(
  {
    role: 'cm',
    caller: 'cm',
    pendingText: 'with PENDING',
    pending: (vc) => (vc.qos?.pended ? vc.qos : undefined),
    without: 'without a pended QoS change',
    finish: (core, vc, status, params) => void finishQos(core, vc, status, params),
  },
  'NdisCmModifyCallQoSComplete',
  'NdisMCmModifyCallQoSComplete',
);

function finishQos(core: NdisCore, vc: VcRec, status: NdisStatus, params: WithParams): NdisStatus {
  const req = vc.qos!;
  vc.qos = undefined;
  if (params && params !== req.params) Object.assign(req.params, params);
  applyCIfAny(core, vc, 'MODIFY_QOS_DONE');
  const unactivated = status === NDIS_STATUS_SUCCESS && vc.activationsOk === req.activationsAtStart;
  if (req.pended) {
    core.delivery.deliver(() => {
      core.tr('deliver', 'NDIS', 'Client', 'ProtocolClModifyCallQoSComplete', vc, status);
      vc.af?.clientHandlers.clModifyCallQoSComplete?.(status, vc.ctx.client, req.params);
      req.resolve?.(status);
    }, vc);
  }
  if (unactivated)
    core.flag(ruleCode(63), 'QoS change completed with SUCCESS without a successful re-activation', vc);
  return status;
}

/**
 * Ndis(M)CmDispatchIncomingCallQoSChange: only after the miniport accepted the new parameters,
 * i.e. the VC's last successful activation carried this very parameter set (E64).
 */
export const DISPATCH_QOS_CHANGE = twins<RequestSpec<CoCallParameters>>(
  {
    role: 'cm',
    caller: 'cm',
    axis: 'call',
    event: 'QOS_CHANGE_INDICATED',
    quiet: true,
    refused: (core, vc, cx, event) => void core.badTransition(vc, event, cx.name),
    guard: (core, vc, cx) => {
      if (vc.a === 'ACTIVE' && vc.lastActivated === cx.args) return undefined;
      core.flag(ruleCode(64), `${cx.name} before the miniport accepted these parameters`, vc);
      return NDIS_STATUS_NOT_ACCEPTED;
    },
    peer: (core, vc, cx) =>
      core.handler('Client', 'ProtocolClIncomingCallQoSChange', vc, () => {
        vc.af?.clientHandlers.clIncomingCallQoSChange?.(vc.ctx.client, cx.args);
        return undefined;
      }),
  },
  'NdisCmDispatchIncomingCallQoSChange',
  'NdisMCmDispatchIncomingCallQoSChange',
);
