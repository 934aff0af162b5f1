/**
 * A VC's life on the activation axis (spec §1.2 rows A-D, §2.2, §2.4): NdisCoCreateVc /
 * NdisMCmCreateVc (with the MiniportCoCreateVc then peer order and its rollback, U3),
 * Ndis(M)CmActivateVc and NdisMCoActivateVcComplete, Ndis(M)CmDeactivateVc and
 * NdisMCoDeactivateVcComplete, the drain that completes a deactivation and its deadline
 * (ERR_CONDIS_DRAIN_TIMEOUT, MiniportCoAbortVc), and NdisCoDeleteVc / NdisMCmDeleteVc.
 *
 * Functions over the NdisCore (core.ts); transitions go through interpreter.ts.
 */
import type { NdisAfHandle, NdisBindingHandle, NdisMiniportHandle, NdisVcHandle } from './actors';
import type { CoCallParameters } from './call-parameters';
import { finishClose } from './calls';
import type { NdisCore } from './core';
import { CondisErrorCode, ruleCode } from './errors';
import { applyA } from './interpreter';
import {
  type ActReq,
  type AfRec,
  type AfRegistration,
  type DeactReq,
  handleOf,
  type MiniportRec,
  partyOf,
  type Role,
  roleOf,
  type VcRec,
} from './registry';
import {
  NDIS_STATUS_FAILURE,
  NDIS_STATUS_INVALID_PARAMETER,
  NDIS_STATUS_NOT_ACCEPTED,
  NDIS_STATUS_PENDING,
  NDIS_STATUS_REQUEST_ABORTED,
  NDIS_STATUS_SUCCESS,
  type NdisStatus,
} from './status';
import type { Party } from './trace';
import { activationTransition } from './vc-states';

/** A new VC record (INACTIVE, IDLE) whose drain, once stopped and empty, completes its deactivation. */
function allocVc(
  core: NdisCore,
  creator: 'client' | 'cm',
  mcm: boolean,
  mp: MiniportRec,
  reg: AfRegistration,
  af: AfRec | undefined,
): VcRec {
  const vc = core.vcs.alloc(creator, mcm, mp, reg, af, (v) => onDrained(core, v));
  if (core.trace) core.tr('state', 'NDIS', 'NDIS', 'state', vc);
  return vc;
}

/**
 * NdisCoCreateVc. A client (outgoing call) or a CM (incoming call, or `afHandle` null for its
 * own signalling VC). Before returning, NDIS calls MiniportCoCreateVc, then the other protocol's
 * ProtocolCoCreateVc (none for a signalling VC; only the MCM's over an MCM). If the peer fails,
 * MiniportCoDeleteVc undoes the miniport's part (spec §1.2-A [POLICY]). Synchronous only.
 */
export function coCreateVc(
  core: NdisCore,
  binding: NdisBindingHandle,
  afHandle: NdisAfHandle | null,
  protocolVcContext?: unknown,
): { status: NdisStatus; vcHandle: NdisVcHandle | undefined } {
  try {
    return createVc(core, binding, afHandle, protocolVcContext);
  } finally {
    core.raiseFatal();
  }
}

function createVc(
  core: NdisCore,
  binding: NdisBindingHandle,
  afHandle: NdisAfHandle | null,
  protocolVcContext: unknown,
): { status: NdisStatus; vcHandle: NdisVcHandle | undefined } {
  const name = 'NdisCoCreateVc';
  const b = core.bindings.get(binding);
  const af = afHandle ? core.afs.get(afHandle) : undefined;
  let role: Role;
  let reg: AfRegistration | undefined;
  if (afHandle && af?.state === 'open') {
    reg = af.reg;
    role = af.clientBinding === b ? 'client' : 'cm';
    if (role === 'cm' && reg.binding !== b) {
      core.verifier.flag(
        CondisErrorCode.WRONG_CALLER,
        `${name}: binding does not belong to the AF's client or CM`,
      );
      return { status: NDIS_STATUS_FAILURE, vcHandle: undefined };
    }
  } else {
    role = 'cm';
    reg = b?.cmAfs[0];
  }
  const party: Party = role === 'client' ? 'Client' : 'CallManager';
  core.tr('call', party, 'NDIS', name, undefined, undefined, afHandle ? undefined : 'AF=NULL');
  if (!b || (afHandle && af?.state !== 'open') || !reg) {
    // Unknown binding, a bad AF handle, or an AF-less VC from a protocol that is no call manager.
    return { status: core.ret(party, NDIS_STATUS_FAILURE), vcHandle: undefined };
  }
  const mp = b.miniport;
  const vc = allocVc(core, role, mp.isMcm, mp, reg, af);
  vc.ctx[role] = protocolVcContext;
  if (!mp.isMcm) {
    const st = core.callCreate(vc, 'miniport', 'MiniportCoCreateVc', () =>
      mp.handlers.coCreateVc ? mp.handlers.coCreateVc(mp.adapterContext, handleOf(vc, 'miniport')) : 0,
    );
    if (st !== NDIS_STATUS_SUCCESS) {
      core.vcs.free(vc);
      return { status: core.ret(party, st), vcHandle: undefined };
    }
  }
  if (af) {
    const peer: Role = role === 'client' ? 'cm' : 'client';
    const st = core.callCreate(vc, peer, 'ProtocolCoCreateVc', () => {
      const ph = handleOf(vc, peer);
      if (peer === 'cm') return reg.handlers.coCreateVc ? reg.handlers.coCreateVc(af.cmAfContext, ph) : 0;
      return af.clientHandlers.coCreateVc ? af.clientHandlers.coCreateVc(af.clientAfContext, ph) : 0;
    });
    if (st !== NDIS_STATUS_SUCCESS) {
      if (!mp.isMcm) core.callDelete(vc, 'miniport', 'MiniportCoDeleteVc');
      core.vcs.free(vc);
      return { status: core.ret(party, st), vcHandle: undefined };
    }
    // Over an MCM the MCM's VC context doubles as its miniport VC context.
    if (mp.isMcm) vc.ctx.miniport = vc.ctx.cm;
  }
  core.ret(party, NDIS_STATUS_SUCCESS, vc);
  return { status: NDIS_STATUS_SUCCESS, vcHandle: handleOf(vc, role) };
}

/** NdisMCmCreateVc: an MCM creates the VC of an incoming call; NDIS calls the client's ProtocolCoCreateVc. */
export function mCmCreateVc(
  core: NdisCore,
  miniport: NdisMiniportHandle,
  afHandle: NdisAfHandle,
  miniportVcContext?: unknown,
): { status: NdisStatus; vcHandle: NdisVcHandle | undefined } {
  try {
    return mCreateVc(core, miniport, afHandle, miniportVcContext);
  } finally {
    core.raiseFatal();
  }
}

function mCreateVc(
  core: NdisCore,
  miniport: NdisMiniportHandle,
  afHandle: NdisAfHandle,
  miniportVcContext: unknown,
): { status: NdisStatus; vcHandle: NdisVcHandle | undefined } {
  const name = 'NdisMCmCreateVc';
  const mp = core.need(core.miniports.get(miniport), name);
  core.tr('call', 'MCM', 'NDIS', name);
  const af = core.afs.get(afHandle);
  if (!mp.isMcm)
    core.verifier.flag(CondisErrorCode.WRONG_VARIANT, `${name} from a miniport that is not an MCM`);
  if (af?.state !== 'open' || af.reg.miniport !== mp) {
    return { status: core.ret('MCM', NDIS_STATUS_FAILURE), vcHandle: undefined };
  }
  const vc = allocVc(core, 'cm', true, mp, af.reg, af);
  vc.ctx.cm = miniportVcContext;
  vc.ctx.miniport = miniportVcContext;
  const st = core.callCreate(vc, 'client', 'ProtocolCoCreateVc', () =>
    af.clientHandlers.coCreateVc
      ? af.clientHandlers.coCreateVc(af.clientAfContext, handleOf(vc, 'client'))
      : 0,
  );
  if (st !== NDIS_STATUS_SUCCESS) {
    core.vcs.free(vc);
    return { status: core.ret('MCM', st), vcHandle: undefined };
  }
  core.ret('MCM', NDIS_STATUS_SUCCESS, vc);
  return { status: NDIS_STATUS_SUCCESS, vcHandle: handleOf(vc, 'cm') };
}

/**
 * NdisCoDeleteVc, by the VC's creator only. Needs A=INACTIVE and C=IDLE: NOT_ACCEPTED while
 * active or activating (or with a call outstanding), CLOSING while deactivating, no handler
 * called. Then the sharing peer's ProtocolCoDeleteVc (it may refuse: the VC survives), then
 * MiniportCoDeleteVc (not over an MCM). The handle is dead on return.
 */
export function coDeleteVc(core: NdisCore, vcHandle: NdisVcHandle): NdisStatus {
  return deleteVc(core, vcHandle, 'NdisCoDeleteVc', false);
}

/** NdisMCmDeleteVc: an MCM deletes a VC it created; NDIS calls the client's ProtocolCoDeleteVc only. */
export function mCmDeleteVc(core: NdisCore, vcHandle: NdisVcHandle): NdisStatus {
  return deleteVc(core, vcHandle, 'NdisMCmDeleteVc', true);
}

function deleteVc(core: NdisCore, vcHandle: NdisVcHandle, name: string, mcmCall: boolean): NdisStatus {
  try {
    return deleteVcInner(core, vcHandle, name, mcmCall);
  } finally {
    core.raiseFatal();
  }
}

function deleteVcInner(core: NdisCore, vcHandle: NdisVcHandle, name: string, mcmCall: boolean): NdisStatus {
  const role = roleOf(vcHandle);
  const vc = core.vcOf(vcHandle, name);
  if (!vc) return NDIS_STATUS_INVALID_PARAMETER;
  const party = partyOf(vc, role);
  core.tr('call', party, 'NDIS', name, vc);
  if (role !== vc.creator) {
    core.ret(party, NDIS_STATUS_NOT_ACCEPTED, vc);
    core.verifier.flag(ruleCode(56), `${name} by the ${role}, which did not create the VC`, core.snap(vc));
    return NDIS_STATUS_NOT_ACCEPTED;
  }
  if (mcmCall !== (vc.mcm && vc.creator === 'cm')) core.wrongVariant(vc, name);
  core.delivery.catchUp(vc);
  return vc.mailbox.hold(() => {
    const out = activationTransition(vc.a, 'DELETE');
    if (!out) return core.ret(party, core.badTransition(vc, 'DELETE', name), vc);
    if (out.refuse !== undefined) return core.ret(party, out.refuse, vc);
    if (vc.c !== 'IDLE') return core.ret(party, NDIS_STATUS_NOT_ACCEPTED, vc); // [POLICY] call outstanding
    if (vc.af) {
      const peer: Role = vc.creator === 'client' ? 'cm' : 'client';
      const st = core.callDelete(vc, peer, 'ProtocolCoDeleteVc');
      if (st !== NDIS_STATUS_SUCCESS) return core.ret(party, st, vc); // E57: the VC survives
    }
    if (!vc.mcm) core.callDelete(vc, 'miniport', 'MiniportCoDeleteVc');
    core.setA(vc, out.next);
    core.vcs.free(vc);
    return core.ret(party, NDIS_STATUS_SUCCESS);
  });
}

/**
 * NdisCmActivateVc (stand-alone CM): activate, or re-activate an active VC with new parameters.
 * NOT_ACCEPTED while another activation is pending, CLOSING while deactivating, the miniport
 * not called. Otherwise NDIS calls MiniportCoActivateVc; its final status is returned (and the
 * CM completes for itself), PENDING ends in ProtocolCmActivateVcComplete.
 */
export function cmActivateVc(
  core: NdisCore,
  vcHandle: NdisVcHandle,
  callParameters: CoCallParameters,
): NdisStatus {
  const name = 'NdisCmActivateVc';
  const resolve = core.takeArmed();
  const vc = core.vcOf(vcHandle, name, 'cm');
  if (!vc) return NDIS_STATUS_INVALID_PARAMETER;
  const party = partyOf(vc, 'cm');
  core.tr('call', party, 'NDIS', name, vc);
  if (vc.mcm) core.wrongVariant(vc, name);
  core.delivery.catchUp(vc);
  return vc.mailbox.hold(() => {
    const out = activationTransition(vc.a, 'ACTIVATE');
    if (!out) return core.ret(party, core.badTransition(vc, 'ACTIVATE', name), vc);
    if (out.refuse !== undefined) return core.ret(party, out.refuse, vc);
    const reused = vc.a === 'INACTIVE' && callParameters === vc.voidedParams;
    core.setA(vc, out.next);
    const req: ActReq = { params: callParameters, pended: false, resolve };
    vc.act = req;
    let st: NdisStatus = NDIS_STATUS_SUCCESS;
    if (out.effects.includes('callMiniportActivate')) {
      const mp = vc.miniport;
      st = core.handler('Miniport', 'MiniportCoActivateVc', vc, () =>
        mp.handlers.coActivateVc
          ? mp.handlers.coActivateVc(vc.ctx.miniport, callParameters)
          : NDIS_STATUS_SUCCESS,
      );
    }
    if (st === NDIS_STATUS_PENDING) req.pended = true;
    else finishActivate(core, vc, st);
    const r = core.ret(party, st, vc);
    if (reused)
      core.verifier.flag(
        ruleCode(50),
        `${name} reuses the parameter set voided by the last deactivation`,
        core.snap(vc),
      );
    return r;
  });
}

/**
 * NdisMCoActivateVcComplete: the miniport finishes an activation it pended. PENDING is invalid
 * (E19); completing an activation that did not pend is a contract break (E20).
 */
export function mCoActivateVcComplete(
  core: NdisCore,
  status: NdisStatus,
  vcHandle: NdisVcHandle,
  callParameters?: CoCallParameters,
): void {
  const name = 'NdisMCoActivateVcComplete';
  const vc = core.vcOf(vcHandle, name);
  if (!vc) return;
  core.tr('complete-call', partyOf(vc, 'miniport'), 'NDIS', name, vc, status);
  if (status === NDIS_STATUS_PENDING) {
    core.verifier.flag(ruleCode(19), `${name} with NDIS_STATUS_PENDING`, core.snap(vc));
    return;
  }
  vc.mailbox.post(() => {
    const req = vc.act;
    if (!req?.pended) {
      core.verifier.flag(ruleCode(20), `${name} without a pended MiniportCoActivateVc`, core.snap(vc));
      return;
    }
    if (callParameters && callParameters !== req.params) Object.assign(req.params, callParameters);
    finishActivate(core, vc, status);
  });
}

/**
 * NdisMCmActivateVc (MCM only): the MCM has programmed its NIC and tells NDIS the parameters in
 * force (A15; spec §5 C7: no miniport handler is called). Always a final status here.
 */
export function mCmActivateVc(
  core: NdisCore,
  vcHandle: NdisVcHandle,
  callParameters: CoCallParameters,
): NdisStatus {
  const name = 'NdisMCmActivateVc';
  const vc = core.vcOf(vcHandle, name);
  if (!vc) return NDIS_STATUS_INVALID_PARAMETER;
  core.tr('call', 'MCM', 'NDIS', name, vc);
  if (!vc.mcm) core.wrongVariant(vc, name);
  core.delivery.catchUp(vc);
  return vc.mailbox.hold(() => {
    const out = activationTransition(vc.a, 'MCM_ACTIVATE');
    if (!out) return core.ret('MCM', core.badTransition(vc, 'MCM_ACTIVATE', name), vc);
    if (out.refuse !== undefined) return core.ret('MCM', out.refuse, vc);
    const reused = vc.a === 'INACTIVE' && callParameters === vc.voidedParams;
    applyA(core, vc, 'MCM_ACTIVATE', callParameters);
    const r = core.ret('MCM', NDIS_STATUS_SUCCESS, vc);
    if (reused) core.verifier.flag(ruleCode(50), `${name} reuses a voided parameter set`, core.snap(vc));
    return r;
  });
}

function finishActivate(core: NdisCore, vc: VcRec, status: NdisStatus): void {
  const req = vc.act!;
  vc.act = undefined;
  applyA(core, vc, status === NDIS_STATUS_SUCCESS ? 'ACTIVATE_OK' : 'ACTIVATE_FAIL', req.params);
  if (!req.pended) return;
  core.delivery.deliver(() => {
    core.tr('deliver', 'NDIS', partyOf(vc, 'cm'), 'ProtocolCmActivateVcComplete', vc, status);
    vc.reg.handlers.cmActivateVcComplete?.(status, vc.ctx.cm, req.params);
    req.resolve?.(status);
  }, vc);
}

/**
 * NdisCmDeactivateVc (stand-alone CM). NOT_ACCEPTED while an activation is pending or when the VC
 * is not active, CLOSING while a deactivation is pending, the miniport not called. Otherwise the
 * stop bit is set (new sends complete with CLOSING) and NDIS calls MiniportCoDeactivateVc once.
 * The deactivation completes when the miniport has completed it AND the VC's drain counter is
 * zero (every send in the miniport completed, every non-RESOURCES receive returned).
 */
export function cmDeactivateVc(core: NdisCore, vcHandle: NdisVcHandle): NdisStatus {
  const name = 'NdisCmDeactivateVc';
  const resolve = core.takeArmed();
  const vc = core.vcOf(vcHandle, name, 'cm');
  if (!vc) return NDIS_STATUS_INVALID_PARAMETER;
  const party = partyOf(vc, 'cm');
  core.tr('call', party, 'NDIS', name, vc);
  if (vc.mcm) core.wrongVariant(vc, name);
  core.delivery.catchUp(vc);
  return vc.mailbox.hold(() => {
    const out = activationTransition(vc.a, 'DEACTIVATE');
    if (!out) return core.ret(party, core.badTransition(vc, 'DEACTIVATE', name), vc);
    if (out.refuse !== undefined) return core.ret(party, out.refuse, vc);
    applyA(core, vc, 'DEACTIVATE');
    const req: DeactReq = { pended: false, resolve, miniportDone: false, timer: undefined };
    vc.deact = req;
    const mp = vc.miniport;
    const st = core.handler('Miniport', 'MiniportCoDeactivateVc', vc, () =>
      mp.handlers.coDeactivateVc ? mp.handlers.coDeactivateVc(vc.ctx.miniport) : NDIS_STATUS_SUCCESS,
    );
    if (st === NDIS_STATUS_PENDING) {
      req.pended = true;
      armDeadline(core, vc, req);
      return core.ret(party, st, vc);
    }
    if (st !== NDIS_STATUS_SUCCESS) {
      finishDeactivate(core, vc, st);
      return core.ret(party, st, vc);
    }
    req.miniportDone = true;
    if (vc.drain.idle) {
      finishDeactivate(core, vc, NDIS_STATUS_SUCCESS);
      return core.ret(party, NDIS_STATUS_SUCCESS, vc);
    }
    // E43: SUCCESS with work outstanding. NDIS keeps the VC deactivating until the drain ends
    // and then completes through ProtocolCmDeactivateVcComplete, so the CM sees PENDING.
    req.pended = true;
    armDeadline(core, vc, req);
    core.ret(party, NDIS_STATUS_PENDING, vc);
    core.verifier.flag(
      ruleCode(43),
      'MiniportCoDeactivateVc returned SUCCESS with work outstanding',
      core.snap(vc),
    );
    return NDIS_STATUS_PENDING;
  });
}

/**
 * NdisMCoDeactivateVcComplete: the miniport finishes a deactivation it pended. With SUCCESS it
 * asserts the drain (spec §2.4): completing while sends or receives are outstanding is E43
 * (NDIS then waits for the counter); PENDING is E19; a deactivation that did not pend, or a
 * second completion, is E20.
 */
export function mCoDeactivateVcComplete(core: NdisCore, status: NdisStatus, vcHandle: NdisVcHandle): void {
  completeDeactivation(core, status, vcHandle, 'NdisMCoDeactivateVcComplete', true);
}

/**
 * condis-tap extension of NdisMCoDeactivateVcComplete(SUCCESS): "complete as soon as NDIS's drain
 * counter for this VC reaches zero". The miniport calls it once it has stopped placing new
 * receives for the VC (spec §2.4 condition 3); NDIS's counter then decides conditions 1 and 2,
 * so a miniport over a device needs no counting of its own. Completes at once if already drained.
 */
export function mCoDeactivateVcCompleteWhenDrained(core: NdisCore, vcHandle: NdisVcHandle): void {
  completeDeactivation(core, NDIS_STATUS_SUCCESS, vcHandle, 'NdisMCoDeactivateVcComplete', false);
}

function completeDeactivation(
  core: NdisCore,
  status: NdisStatus,
  vcHandle: NdisVcHandle,
  name: string,
  strict: boolean,
): void {
  const vc = core.vcOf(vcHandle, name);
  if (!vc) return;
  core.tr(
    'complete-call',
    partyOf(vc, 'miniport'),
    'NDIS',
    name,
    vc,
    status,
    strict ? undefined : 'when drained',
  );
  if (status === NDIS_STATUS_PENDING) {
    core.verifier.flag(ruleCode(19), `${name} with NDIS_STATUS_PENDING`, core.snap(vc));
    return;
  }
  vc.mailbox.post(() => {
    const req = vc.deact;
    if (!req?.pended || req.miniportDone) {
      core.verifier.flag(
        ruleCode(20),
        `${name} without a pended MiniportCoDeactivateVc (or twice)`,
        core.snap(vc),
      );
      return;
    }
    if (status !== NDIS_STATUS_SUCCESS) {
      finishDeactivate(core, vc, status);
      return;
    }
    req.miniportDone = true;
    if (vc.drain.idle) finishDeactivate(core, vc, NDIS_STATUS_SUCCESS);
    else if (strict)
      core.verifier.flag(ruleCode(43), `${name}(SUCCESS) with work outstanding`, core.snap(vc));
  });
}

/**
 * NdisMCmDeactivateVc (MCM only): returns a final status (spec §5 C3): SUCCESS (VC inactive) or
 * NOT_ACCEPTED (already inactive). The MCM must have drained the VC first (spec §2.4); if it has
 * not (E43), NDIS returns PENDING, waits for the drain and then calls the MCM's
 * ProtocolCmDeactivateVcComplete, as C3 prescribes for a pending return.
 */
export function mCmDeactivateVc(core: NdisCore, vcHandle: NdisVcHandle): NdisStatus {
  const name = 'NdisMCmDeactivateVc';
  const resolve = core.takeArmed();
  const vc = core.vcOf(vcHandle, name);
  if (!vc) return NDIS_STATUS_INVALID_PARAMETER;
  core.tr('call', 'MCM', 'NDIS', name, vc);
  if (!vc.mcm) core.wrongVariant(vc, name);
  core.delivery.catchUp(vc);
  return vc.mailbox.hold(() => {
    const out = activationTransition(vc.a, 'MCM_DEACTIVATE');
    if (!out) return core.ret('MCM', core.badTransition(vc, 'MCM_DEACTIVATE', name), vc);
    if (out.refuse !== undefined) return core.ret('MCM', out.refuse, vc);
    if (vc.drain.idle) {
      applyA(core, vc, 'MCM_DEACTIVATE');
      afterDeactivated(core, vc);
      return core.ret('MCM', NDIS_STATUS_SUCCESS, vc);
    }
    applyA(core, vc, 'DEACTIVATE');
    const req: DeactReq = { pended: true, resolve, miniportDone: true, timer: undefined };
    vc.deact = req;
    armDeadline(core, vc, req);
    core.ret('MCM', NDIS_STATUS_PENDING, vc);
    core.verifier.flag(ruleCode(43), `${name} with work outstanding`, core.snap(vc));
    return NDIS_STATUS_PENDING;
  });
}

function finishDeactivate(core: NdisCore, vc: VcRec, status: NdisStatus): void {
  const req = vc.deact!;
  vc.deact = undefined;
  if (req.timer !== undefined) core.clock.clearTimer(req.timer);
  applyA(core, vc, status === NDIS_STATUS_SUCCESS ? 'DEACTIVATE_OK' : 'DEACTIVATE_FAIL');
  if (req.pended) {
    core.delivery.deliver(() => {
      core.tr('deliver', 'NDIS', partyOf(vc, 'cm'), 'ProtocolCmDeactivateVcComplete', vc, status);
      vc.reg.handlers.cmDeactivateVcComplete?.(status, vc.ctx.cm);
      req.resolve?.(status);
    }, vc);
  }
  // A close completion held back by E34 goes out now (flagged again if the deactivation failed).
  afterDeactivated(core, vc);
}

/** A close completion held back by E34 goes out once the VC is inactive. */
function afterDeactivated(core: NdisCore, vc: VcRec): void {
  const held = vc.heldClose;
  if (!held) return;
  vc.heldClose = undefined;
  finishClose(core, vc, held.status, held.req);
}

/** The drain counter reached zero while stopping. */
function onDrained(core: NdisCore, vc: VcRec): void {
  vc.mailbox.post(() => {
    const req = vc.deact;
    if (req?.miniportDone && vc.drain.idle) finishDeactivate(core, vc, NDIS_STATUS_SUCCESS);
  });
}

function armDeadline(core: NdisCore, vc: VcRec, req: DeactReq): void {
  const ms = core.deactivationDeadlineMs;
  if (!ms || ms <= 0) return;
  req.timer = core.clock.setTimer(ms, () => {
    req.timer = undefined;
    if (vc.deact !== req) return;
    core.tr('note', 'NDIS', 'NDIS', 'deactivation deadline', vc, undefined, `${ms} ms`);
    core.verifier.report(
      CondisErrorCode.DRAIN_TIMEOUT,
      `deactivation did not drain within ${ms} ms; aborting`,
      core.snap(vc),
    );
    // The hook runs outside the mailbox so that a completion from inside it is processed at once.
    const mp = vc.miniport;
    if (mp.handlers.coAbortVc)
      core.handler(partyOf(vc, 'miniport'), 'MiniportCoAbortVc', vc, () => {
        mp.handlers.coAbortVc!(vc.ctx.miniport);
        return undefined;
      });
    if (vc.deact === req)
      vc.mailbox.post(() => vc.deact === req && finishDeactivate(core, vc, NDIS_STATUS_REQUEST_ABORTED));
  });
}
