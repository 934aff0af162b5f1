/**
 * A VC's life on the activation axis (spec §1.2 rows A-D, §2.2, §2.4): NdisCoCreateVc /
 * NdisMCmCreateVc (with the MiniportCoCreateVc then peer order and its rollback, U3),
 * Ndis(M)CmActivateVc and NdisMCoActivateVcComplete, Ndis(M)CmDeactivateVc and
 * NdisMCoDeactivateVcComplete, the drain that completes a deactivation and its deadline
 * (ERR_CONDIS_DRAIN_TIMEOUT, MiniportCoAbortVc), and NdisCoDeleteVc / NdisMCmDeleteVc; and
 * each deactivation's timing (DeactivationRecord, to the observer and Ndis.onDeactivation).
 *
 * Each request on an existing VC is a descriptor run by request.ts, its transition taken by
 * interpreter.ts; creation has no VC to hold or table row yet and runs on its own. Over the
 * NdisCore (core.ts).
 */
import type { NdisAfHandle, NdisBindingHandle, NdisMiniportHandle, NdisVcHandle } from './actors';
import type { CoCallParameters } from './call-parameters';
import { finishClose } from './calls';
import type { NdisCore } from './core';
import { CondisErrorCode, ruleCode } from './errors';
import { applyA } from './interpreter';
import type { DeactivationRecord } from './options';
import {
  type ActReq,
  type AfRec,
  type AfRegistration,
  type DeactReq,
  handleOf,
  type MiniportRec,
  partyOf,
  type Role,
  type VcRec,
} from './registry';
import { type CompletionSpec, type RequestContext, type RequestSpec, request } from './request';
import {
  NDIS_STATUS_FAILURE,
  NDIS_STATUS_NOT_ACCEPTED,
  NDIS_STATUS_PENDING,
  NDIS_STATUS_REQUEST_ABORTED,
  NDIS_STATUS_SUCCESS,
  type NdisStatus,
} from './status';
import type { Party } from './trace';

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

// ---------------------------------------------------------------------------------------------
// D. Deletion

/** NdisCoDeleteVc / NdisMCmDeleteVc (the facade picks the name; deletion is one request). */
function deleteSpec(name: string, mcmCall: boolean): RequestSpec<undefined> {
  return {
    name,
    role: undefined,
    caller: undefined,
    axis: 'activation',
    event: 'DELETE',
    catchUp: true,
    admit: (core, vc, cx) => {
      const role = cx.role;
      if (role !== vc.creator) {
        core.ret(cx.party, NDIS_STATUS_NOT_ACCEPTED, vc);
        core.flag(ruleCode(56), `${name} by the ${role}, which did not create the VC`, vc);
        return NDIS_STATUS_NOT_ACCEPTED;
      }
      if (mcmCall !== (vc.mcm && vc.creator === 'cm')) core.wrongVariant(vc, name);
      return undefined;
    },
    // [POLICY] a call outstanding: the client closes it first.
    guard: (core, vc, cx) => (vc.c !== 'IDLE' ? core.ret(cx.party, NDIS_STATUS_NOT_ACCEPTED, vc) : undefined),
  };
}

/**
 * NdisCoDeleteVc, by the VC's creator only. Needs A=INACTIVE and C=IDLE: NOT_ACCEPTED while
 * active or activating (or with a call outstanding), CLOSING while deactivating, no handler
 * called. Then the sharing peer's ProtocolCoDeleteVc (it may refuse: the VC survives), then
 * MiniportCoDeleteVc (not over an MCM). The handle is dead on return.
 */
const CO_DELETE_VC = deleteSpec('NdisCoDeleteVc', false);
/** NdisMCmDeleteVc: an MCM deletes a VC it created; NDIS calls the client's ProtocolCoDeleteVc only. */
const MCM_DELETE_VC = deleteSpec('NdisMCmDeleteVc', true);

export function coDeleteVc(core: NdisCore, vcHandle: NdisVcHandle, mcmCall: boolean): NdisStatus {
  try {
    return request(core, mcmCall ? MCM_DELETE_VC : CO_DELETE_VC, vcHandle, undefined);
  } finally {
    core.raiseFatal();
  }
}

// ---------------------------------------------------------------------------------------------
// B. Activation

/** E50: an activation that reuses the parameter set voided by the last deactivation. */
function reusesVoided(vc: VcRec, cx: RequestContext<CoCallParameters>): boolean {
  return cx.from === 'INACTIVE' && cx.args === vc.voidedParams;
}

/**
 * NdisCmActivateVc (stand-alone CM): activate, or re-activate an active VC with new parameters.
 * NOT_ACCEPTED while another activation is pending, CLOSING while deactivating, the miniport
 * not called. Otherwise NDIS calls MiniportCoActivateVc (the table's callMiniportActivate); its
 * final status is returned (and the CM completes for itself), PENDING ends in
 * ProtocolCmActivateVcComplete.
 */
export const CM_ACTIVATE_VC: RequestSpec<CoCallParameters> = {
  name: 'NdisCmActivateVc',
  role: 'cm',
  caller: 'cm',
  variant: (vc) => !vc.mcm,
  params: (p) => p,
  catchUp: true,
  axis: 'activation',
  event: 'ACTIVATE',
  open: (_core, vc, cx) => {
    const req: ActReq = { params: cx.args, pended: false, resolve: cx.resolve };
    vc.act = req;
    return req;
  },
  finish: (core, vc, _cx, st) => {
    finishActivate(core, vc, st);
    return st;
  },
  after: (core, vc, cx) => {
    if (reusesVoided(vc, cx))
      core.flag(ruleCode(50), `${cx.name} reuses the parameter set voided by the last deactivation`, vc);
  },
};

/**
 * NdisMCmActivateVc (MCM only): the MCM has programmed its NIC and tells NDIS the parameters in
 * force (A15; spec §5 C7: no miniport handler is called). Always a final status here.
 */
export const MCM_ACTIVATE_VC: RequestSpec<CoCallParameters> = {
  name: 'NdisMCmActivateVc',
  role: undefined,
  caller: 'cm',
  variant: (vc) => vc.mcm,
  params: (p) => p,
  catchUp: true,
  axis: 'activation',
  event: 'MCM_ACTIVATE',
  after: (core, vc, cx) => {
    if (reusesVoided(vc, cx)) core.flag(ruleCode(50), `${cx.name} reuses a voided parameter set`, vc);
  },
};

/**
 * NdisMCoActivateVcComplete: the miniport finishes an activation it pended. PENDING is invalid
 * (E19); completing an activation that did not pend is a contract break (E20).
 */
export const MCO_ACTIVATE_VC_COMPLETE: CompletionSpec<CoCallParameters | undefined> = {
  name: 'NdisMCoActivateVcComplete',
  role: undefined,
  caller: 'miniport',
  pendingText: 'with NDIS_STATUS_PENDING',
  pending: (vc) => (vc.act?.pended ? vc.act : undefined),
  without: 'without a pended MiniportCoActivateVc',
  finish: (core, vc, status, callParameters) => {
    const req = vc.act!;
    if (callParameters && callParameters !== req.params) Object.assign(req.params, callParameters);
    finishActivate(core, vc, status);
  },
};

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

// ---------------------------------------------------------------------------------------------
// C. Deactivation and the drain

/**
 * NdisCmDeactivateVc (stand-alone CM). NOT_ACCEPTED while an activation is pending or when the VC
 * is not active, CLOSING while a deactivation is pending, the miniport not called. Otherwise the
 * stop bit is set (new sends complete with CLOSING) and NDIS calls MiniportCoDeactivateVc once
 * (the table's stopSends, callMiniportDeactivate). The deactivation completes when the miniport
 * has completed it AND the VC's drain counter is zero (every send in the miniport completed,
 * every non-RESOURCES receive returned).
 */
export const CM_DEACTIVATE_VC: RequestSpec<undefined> = {
  name: 'NdisCmDeactivateVc',
  role: 'cm',
  caller: 'cm',
  variant: (vc) => !vc.mcm,
  catchUp: true,
  axis: 'activation',
  event: 'DEACTIVATE',
  // Opened before the table's stopSends runs: the counts read here are those at the stop bit.
  open: (core, vc, cx) => {
    const req = newDeact(core, vc, false, cx.resolve, false);
    vc.deact = req;
    return req;
  },
  pended: (core, vc) => armDeadline(core, vc, vc.deact!),
  finish: (core, vc, _cx, st) => {
    const req = vc.deact!;
    if (st !== NDIS_STATUS_SUCCESS) {
      finishDeactivate(core, vc, st);
      return st;
    }
    req.miniportDone = true;
    if (vc.drain.idle) {
      finishDeactivate(core, vc, NDIS_STATUS_SUCCESS);
      return NDIS_STATUS_SUCCESS;
    }
    // E43: SUCCESS with work outstanding. NDIS keeps the VC deactivating until the drain ends
    // and then completes through ProtocolCmDeactivateVcComplete, so the CM sees PENDING.
    req.pended = true;
    armDeadline(core, vc, req);
    return NDIS_STATUS_PENDING;
  },
  after: (core, vc, cx, final) => {
    if (final === NDIS_STATUS_PENDING && cx.status === NDIS_STATUS_SUCCESS)
      core.flag(ruleCode(43), 'MiniportCoDeactivateVc returned SUCCESS with work outstanding', vc);
  },
};

/**
 * NdisMCmDeactivateVc (MCM only): returns a final status (spec §5 C3): SUCCESS (VC inactive) or
 * NOT_ACCEPTED (already inactive). The MCM must have drained the VC first (spec §2.4); if it has
 * not (E43, the table's MCM_DEACTIVATE_UNDRAINED), NDIS returns PENDING, waits for the drain and
 * then calls the MCM's ProtocolCmDeactivateVcComplete, as C3 prescribes for a pending return.
 */
export const MCM_DEACTIVATE_VC: RequestSpec<undefined> = {
  name: 'NdisMCmDeactivateVc',
  role: undefined,
  caller: 'cm',
  variant: (vc) => vc.mcm,
  catchUp: true,
  axis: 'activation',
  event: (vc) => (vc.drain.idle ? 'MCM_DEACTIVATE' : 'MCM_DEACTIVATE_UNDRAINED'),
  finish: (core, vc, cx) => {
    if (vc.a === 'INACTIVE') {
      // Drained before it began (the rule for an MCM): begin, drained and completed are one time.
      const t = core.clock.now();
      afterDeactivated(core, vc);
      emitDeactivation(core, {
        vcHandle: handleOf(vc, vc.dataRole),
        begin: t,
        drained: t,
        completed: t,
        inFlight: { sends: 0, receives: 0 },
        status: NDIS_STATUS_SUCCESS,
      });
      return NDIS_STATUS_SUCCESS;
    }
    // The stop bit is set already (the transition ran); nothing has been released since.
    const req = newDeact(core, vc, true, cx.resolve, true);
    vc.deact = req;
    armDeadline(core, vc, req);
    return NDIS_STATUS_PENDING;
  },
  after: (core, vc, cx, final) => {
    if (final === NDIS_STATUS_PENDING) core.flag(ruleCode(43), `${cx.name} with work outstanding`, vc);
  },
};

/** NdisMCoDeactivateVcComplete(status) and its condis-tap "when drained" form. */
function deactivateCompleteSpec(strict: boolean): CompletionSpec<undefined> {
  return {
    name: 'NdisMCoDeactivateVcComplete',
    role: undefined,
    caller: 'miniport',
    ...(strict ? {} : { detail: 'when drained' }),
    pendingText: 'with NDIS_STATUS_PENDING',
    pending: (vc) => (vc.deact?.pended && !vc.deact.miniportDone ? vc.deact : undefined),
    without: 'without a pended MiniportCoDeactivateVc (or twice)',
    finish: (core, vc, status) => {
      if (status !== NDIS_STATUS_SUCCESS) {
        finishDeactivate(core, vc, status);
        return;
      }
      vc.deact!.miniportDone = true;
      if (vc.drain.idle) finishDeactivate(core, vc, NDIS_STATUS_SUCCESS);
      else if (strict)
        core.flag(ruleCode(43), 'NdisMCoDeactivateVcComplete(SUCCESS) with work outstanding', vc);
    },
  };
}

/**
 * NdisMCoDeactivateVcComplete: the miniport finishes a deactivation it pended. With SUCCESS it
 * asserts the drain (spec §2.4): completing while sends or receives are outstanding is E43
 * (NDIS then waits for the counter); PENDING is E19; a deactivation that did not pend, or a
 * second completion, is E20.
 */
export const MCO_DEACTIVATE_VC_COMPLETE = deactivateCompleteSpec(true);

/**
 * condis-tap extension of NdisMCoDeactivateVcComplete(SUCCESS): "complete as soon as NDIS's drain
 * counter for this VC reaches zero". The miniport calls it once it has stopped placing new
 * receives for the VC (spec §2.4 condition 3); NDIS's counter then decides conditions 1 and 2.
 */
export const MCO_DEACTIVATE_VC_COMPLETE_WHEN_DRAINED = deactivateCompleteSpec(false);

/** The deactivation is over (drained and completed, failed, or aborted at its deadline). */
function finishDeactivate(core: NdisCore, vc: VcRec, status: NdisStatus): void {
  const req = vc.deact! as TimedDeact;
  const completed = core.clock.now();
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
  emitDeactivation(core, {
    vcHandle: handleOf(vc, vc.dataRole),
    begin: req.begin,
    drained: req.drained,
    completed,
    inFlight: { sends: req.sends, receives: req.receives },
    status,
  });
}

/** A close completion held back by E34 goes out once the VC is inactive. */
function afterDeactivated(core: NdisCore, vc: VcRec): void {
  const held = vc.heldClose;
  if (!held) return;
  vc.heldClose = undefined;
  finishClose(core, vc, held.status, held.req);
}

/** The drain counter reached zero while stopping (once per deactivation, or a few: never per packet). */
function onDrained(core: NdisCore, vc: VcRec): void {
  const timed = vc.deact as TimedDeact | undefined;
  if (timed) timed.drained = core.clock.now();
  vc.mailbox.post(() => {
    const req = vc.deact;
    if (req?.miniportDone && vc.drain.idle) finishDeactivate(core, vc, NDIS_STATUS_SUCCESS);
  });
}

/**
 * The drain deadline (NdisOptions.deactivationDeadlineMs): a deactivation still pending when it
 * fires is reported (ERR_CONDIS_DRAIN_TIMEOUT), the miniport's MiniportCoAbortVc hook runs, and
 * unless the hook finished the deactivation it fails with REQUEST_ABORTED (the VC back to ACTIVE, A11).
 */
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

// ---------------------------------------------------------------------------------------------
// The deactivation's timing (DeactivationRecord). Control path only: a deactivation reads the
// clock when it begins, when its drain ends and when it completes; nothing runs per packet.

/** A deactivation in flight, with what its DeactivationRecord needs. */
interface TimedDeact extends DeactReq {
  begin: number;
  drained: number | undefined;
  /** Outstanding at begin (the drain's counts). */
  sends: number;
  receives: number;
}

function newDeact(
  core: NdisCore,
  vc: VcRec,
  pended: boolean,
  resolve: ((s: NdisStatus) => void) | undefined,
  miniportDone: boolean,
): TimedDeact {
  const begin = core.clock.now();
  const sends = vc.drain.txInMiniport;
  const receives = vc.drain.rxHeld;
  return {
    pended,
    resolve,
    miniportDone,
    timer: undefined,
    begin,
    drained: sends === 0 && receives === 0 ? begin : undefined,
    sends,
    receives,
  };
}

/** Who hears of deactivations on a live runtime (Ndis.onDeactivation): everyone's, or one VC's. */
interface DeactivationListeners {
  readonly all: Set<(rec: DeactivationRecord) => void>;
  /** By VC (vcKey): any party's handle of a VC names the same VC. */
  readonly byVc: Map<number, Set<(rec: DeactivationRecord) => void>>;
}
const listeners = new WeakMap<NdisCore, DeactivationListeners>();

/** One key per VC whichever party's handle names it (registry.ts: handle = (gen*SLOTS+slot)*4 + role). */
function vcKey(h: number): number {
  return h - (h % 4);
}

/**
 * Ndis.onDeactivation: `listener` hears every deactivation's record (or only `vcHandle`'s VC,
 * by any party's handle of it) until the returned function is called.
 */
export function subscribeDeactivations(
  core: NdisCore,
  listener: (rec: DeactivationRecord) => void,
  vcHandle?: NdisVcHandle,
): () => void {
  let l = listeners.get(core);
  if (!l) {
    l = { all: new Set(), byVc: new Map() };
    listeners.set(core, l);
  }
  const byVc = l.byVc;
  if (vcHandle === undefined) {
    const all = l.all;
    all.add(listener);
    return () => void all.delete(listener);
  }
  const key = vcKey(vcHandle);
  let set = byVc.get(key);
  if (!set) {
    set = new Set();
    byVc.set(key, set);
  }
  set.add(listener);
  return () => {
    const s = byVc.get(key);
    if (!s) return;
    s.delete(listener);
    if (s.size === 0) byVc.delete(key);
  };
}

/** Tell the observer and the subscribers; a throw is theirs, not NDIS's: rethrown on a microtask. */
function emitDeactivation(core: NdisCore, rec: DeactivationRecord): void {
  const obs = core.observer;
  if (obs?.onDeactivation) tell(() => obs.onDeactivation!(rec));
  const l = listeners.get(core);
  if (!l) return;
  for (const fn of l.all) tell(() => fn(rec));
  const mine = l.byVc.get(vcKey(rec.vcHandle));
  if (mine) for (const fn of mine) tell(() => fn(rec));
}

function tell(fn: () => void): void {
  try {
    fn();
  } catch (e) {
    queueMicrotask(() => {
      throw e;
    });
  }
}
