/**
 * Bindings: how drivers meet (spec §1.1, §1.2 registration rows). Registering miniports, MCMs and
 * protocols (NdisMRegisterMiniportDriver, NdisRegisterProtocolDriver), binding a protocol to a
 * miniport (NdisOpenAdapterEx / NdisCloseAdapterEx), a call manager's address family
 * (Ndis(M)CmRegisterAddressFamilyEx), a client opening and closing it (NdisClOpenAddressFamilyEx,
 * NdisClCloseAddressFamily, E66) and its SAPs (NdisClRegisterSap / NdisClDeregisterSap), and the
 * miniport's reset indication (NdisMIndicateStatusEx, E65). No VC here: those are vc-lifecycle.ts.
 *
 * No VC, no table: these requests keep their own short code rather than request.ts's skeleton
 * (nothing to hold, no transition). Functions over the NdisCore (core.ts); `Ndis` (ndis.ts) is
 * their public face.
 */
import {
  type AddressFamily,
  type CallManagerHandlers,
  type ClientHandlers,
  type MiniportCoHandlers,
  NdisAfHandle,
  NdisBindingHandle,
  NdisMiniportHandle,
  NdisProtocolHandle,
  NdisSapHandle,
  type ProtocolCoHandlers,
} from './actors';
import { type NdisCore, splitResult } from './core';
import { CondisErrorCode, ruleCode } from './errors';
import { AfRec, AfRegistration, BindingRec, MiniportRec, ProtocolRec, SapRec } from './registry';
import {
  NDIS_STATUS_FAILURE,
  NDIS_STATUS_NOT_ACCEPTED,
  NDIS_STATUS_PENDING,
  NDIS_STATUS_RESET_END,
  NDIS_STATUS_RESET_START,
  NDIS_STATUS_SUCCESS,
  type NdisStatus,
} from './status';

/** NdisMRegisterMiniportDriver + NdisMSetMiniportAttributes (CoNDIS): a connection-oriented miniport. */
export function registerMiniport(
  core: NdisCore,
  name: string,
  handlers: MiniportCoHandlers,
  adapterContext?: unknown,
): NdisMiniportHandle {
  const h = new NdisMiniportHandle(name);
  core.miniports.set(h, new MiniportRec(h, handlers, adapterContext, false));
  return h;
}

/**
 * NdisMRegisterMiniportDriver for an MCM: a miniport with an integrated call manager. Its
 * coCreateVc/coDeleteVc are ignored (NDIS calls the call-manager ones); register its address
 * families with `mCmRegisterAddressFamily`.
 */
export function registerMcm(
  core: NdisCore,
  name: string,
  handlers: MiniportCoHandlers,
  adapterContext?: unknown,
): NdisMiniportHandle {
  const h = new NdisMiniportHandle(name);
  core.miniports.set(h, new MiniportRec(h, handlers, adapterContext, true));
  return h;
}

/** NdisMDeregisterMiniportDriver / halt: asserts no VC is left (spec §5 U10). */
export function deregisterMiniport(core: NdisCore, miniport: NdisMiniportHandle): NdisStatus {
  const mp = core.need(core.miniports.get(miniport), 'NdisMDeregisterMiniportDriver');
  const left = core.vcs.count((v) => v.miniport === mp);
  if (left > 0) {
    core.verifier.flag(
      CondisErrorCode.VCS_PRESENT,
      `miniport ${miniport.name} halted with ${left} VC(s) present`,
    );
    return NDIS_STATUS_NOT_ACCEPTED;
  }
  core.miniports.delete(miniport);
  return NDIS_STATUS_SUCCESS;
}

/** NdisRegisterProtocolDriver with NDIS_PROTOCOL_CO_CHARACTERISTICS: a client or a call manager. */
export function registerProtocol(
  core: NdisCore,
  name: string,
  handlers: ProtocolCoHandlers,
): NdisProtocolHandle {
  const h = new NdisProtocolHandle(name);
  core.protocols.set(h, new ProtocolRec(h, handlers));
  return h;
}

/** NdisOpenAdapterEx: bind a protocol to a miniport (synchronous here). */
export function openAdapter(
  core: NdisCore,
  protocol: NdisProtocolHandle,
  miniport: NdisMiniportHandle,
  protocolBindingContext?: unknown,
): NdisBindingHandle {
  const p = core.need(core.protocols.get(protocol), 'NdisOpenAdapterEx');
  const mp = core.need(core.miniports.get(miniport), 'NdisOpenAdapterEx');
  const h = new NdisBindingHandle(`${protocol.name}->${miniport.name}`);
  const b = new BindingRec(h, p, mp, protocolBindingContext);
  core.bindings.set(h, b);
  mp.bindings.push(b);
  return h;
}

/** NdisCloseAdapterEx: asserts the binding has no AF open and no VC left (spec §5 U10). */
export function closeAdapter(core: NdisCore, binding: NdisBindingHandle): NdisStatus {
  const b = core.need(core.bindings.get(binding), 'NdisCloseAdapterEx');
  const busy =
    [...core.afs.values()].some(
      (af) => af.state !== 'closed' && (af.clientBinding === b || af.reg.binding === b),
    ) || core.vcs.some((v) => v.dataBinding === b || v.reg.binding === b);
  if (busy) {
    core.verifier.flag(CondisErrorCode.VCS_PRESENT, `binding ${binding.name} closed with AFs or VCs present`);
    return NDIS_STATUS_NOT_ACCEPTED;
  }
  core.bindings.delete(binding);
  b.miniport.bindings.splice(b.miniport.bindings.indexOf(b), 1);
  return NDIS_STATUS_SUCCESS;
}

/** NdisCmRegisterAddressFamilyEx: a stand-alone call manager offers an address family on its binding. */
export function cmRegisterAddressFamily(
  core: NdisCore,
  binding: NdisBindingHandle,
  af: AddressFamily,
  handlers: CallManagerHandlers,
  callMgrBindingContext?: unknown,
): NdisStatus {
  const b = core.need(core.bindings.get(binding), 'NdisCmRegisterAddressFamilyEx');
  if (b.miniport.afs.some((r) => r.af === af)) return NDIS_STATUS_FAILURE;
  const reg = new AfRegistration(af, handlers, b.miniport, b, callMgrBindingContext);
  b.miniport.afs.push(reg);
  b.cmAfs.push(reg);
  core.tr('call', 'CallManager', 'NDIS', 'NdisCmRegisterAddressFamilyEx');
  return NDIS_STATUS_SUCCESS;
}

/** NdisMCmRegisterAddressFamilyEx: an MCM registers as the call manager of its own miniport. */
export function mCmRegisterAddressFamily(
  core: NdisCore,
  miniport: NdisMiniportHandle,
  af: AddressFamily,
  handlers: CallManagerHandlers,
): NdisStatus {
  const mp = core.need(core.miniports.get(miniport), 'NdisMCmRegisterAddressFamilyEx');
  if (!mp.isMcm) {
    core.verifier.flag(CondisErrorCode.WRONG_VARIANT, `${miniport.name} is not an MCM`);
    return NDIS_STATUS_FAILURE;
  }
  if (mp.afs.some((r) => r.af === af)) return NDIS_STATUS_FAILURE;
  mp.afs.push(new AfRegistration(af, handlers, mp, undefined, undefined));
  core.tr('call', 'MCM', 'NDIS', 'NdisMCmRegisterAddressFamilyEx');
  return NDIS_STATUS_SUCCESS;
}

/**
 * NdisClOpenAddressFamilyEx: a client opens an address family offered on the miniport it is
 * bound to. NDIS calls the CM's ProtocolCmOpenAf; PENDING ends in ProtocolClOpenAfCompleteEx.
 */
export function clOpenAddressFamily(
  core: NdisCore,
  binding: NdisBindingHandle,
  af: AddressFamily,
  handlers: ClientHandlers,
  protocolAfContext?: unknown,
): { status: NdisStatus; afHandle: NdisAfHandle | undefined } {
  const resolve = core.takeArmed();
  const b = core.need(core.bindings.get(binding), 'NdisClOpenAddressFamilyEx');
  core.tr('call', 'Client', 'NDIS', 'NdisClOpenAddressFamilyEx');
  const reg = b.miniport.afs.find((r) => r.af === af);
  if (!reg) return { status: core.ret('Client', NDIS_STATUS_FAILURE), afHandle: undefined };
  const h = new NdisAfHandle(core.nextId++);
  const rec = new AfRec(h, reg, b, handlers, protocolAfContext);
  core.afs.set(h, rec);
  const r = core.handlerCtx(reg.party, 'ProtocolCmOpenAf', () =>
    reg.handlers.cmOpenAf ? reg.handlers.cmOpenAf(reg.cmBindingContext, af, h) : NDIS_STATUS_SUCCESS,
  );
  const { status, context } = splitResult(r);
  if (status === NDIS_STATUS_PENDING) {
    rec.resolve = resolve;
    return { status: core.ret('Client', status), afHandle: h };
  }
  if (status === NDIS_STATUS_SUCCESS) {
    rec.state = 'open';
    rec.cmAfContext = context ?? h;
    return { status: core.ret('Client', status), afHandle: h };
  }
  core.afs.delete(h);
  return { status: core.ret('Client', status), afHandle: undefined };
}

/** NdisCmOpenAddressFamilyComplete / NdisMCmOpenAddressFamilyComplete */
export function cmOpenAddressFamilyComplete(
  core: NdisCore,
  status: NdisStatus,
  afHandle: NdisAfHandle,
  callMgrAfContext?: unknown,
): void {
  const af = core.need(core.afs.get(afHandle), 'NdisCmOpenAddressFamilyComplete');
  core.tr('complete-call', af.reg.party, 'NDIS', 'NdisCmOpenAddressFamilyComplete', undefined, status);
  if (af.state !== 'opening') {
    core.verifier.flag(ruleCode(20), 'NdisCmOpenAddressFamilyComplete for an AF open that did not pend');
    return;
  }
  if (status === NDIS_STATUS_SUCCESS) {
    af.state = 'open';
    af.cmAfContext = callMgrAfContext ?? afHandle;
  } else {
    af.state = 'closed';
    core.afs.delete(afHandle);
  }
  const resolve = af.resolve;
  af.resolve = undefined;
  core.delivery.deliver(() => {
    core.tr('deliver', 'NDIS', 'Client', 'ProtocolClOpenAfCompleteEx', undefined, status);
    af.clientHandlers.clOpenAfComplete?.(status, af.clientAfContext, afHandle);
    resolve?.(status);
  });
}

/** NdisClCloseAddressFamily: the CM may refuse (NOT_ACCEPTED) or pend while calls are open (E66). */
export function clCloseAddressFamily(core: NdisCore, afHandle: NdisAfHandle): NdisStatus {
  const resolve = core.takeArmed();
  const af = core.need(core.afs.get(afHandle), 'NdisClCloseAddressFamily');
  core.tr('call', 'Client', 'NDIS', 'NdisClCloseAddressFamily');
  if (af.state !== 'open') return core.ret('Client', NDIS_STATUS_NOT_ACCEPTED);
  af.state = 'closing';
  const st = core.handler(af.reg.party, 'ProtocolCmCloseAf', undefined, () =>
    af.reg.handlers.cmCloseAf ? af.reg.handlers.cmCloseAf(af.cmAfContext) : NDIS_STATUS_SUCCESS,
  );
  if (st === NDIS_STATUS_PENDING) {
    af.resolve = resolve;
    return core.ret('Client', st);
  }
  finishCloseAf(core, af, st);
  return core.ret('Client', st);
}

/** NdisCmCloseAddressFamilyComplete / NdisMCmCloseAddressFamilyComplete */
export function cmCloseAddressFamilyComplete(
  core: NdisCore,
  status: NdisStatus,
  afHandle: NdisAfHandle,
): void {
  const af = core.need(core.afs.get(afHandle), 'NdisCmCloseAddressFamilyComplete');
  core.tr('complete-call', af.reg.party, 'NDIS', 'NdisCmCloseAddressFamilyComplete', undefined, status);
  if (af.state !== 'closing') {
    core.verifier.flag(ruleCode(20), 'NdisCmCloseAddressFamilyComplete for a close that did not pend');
    return;
  }
  finishCloseAf(core, af, status);
  const resolve = af.resolve;
  af.resolve = undefined;
  core.delivery.deliver(() => {
    core.tr('deliver', 'NDIS', 'Client', 'ProtocolClCloseAfComplete', undefined, status);
    af.clientHandlers.clCloseAfComplete?.(status, af.clientAfContext);
    resolve?.(status);
  });
}

function finishCloseAf(core: NdisCore, af: AfRec, status: NdisStatus): void {
  if (status === NDIS_STATUS_SUCCESS) {
    af.state = 'closed';
    core.afs.delete(af.handle);
  } else {
    af.state = 'open';
  }
}

/** NdisClRegisterSap: NDIS calls the CM's ProtocolCmRegisterSap. */
export function clRegisterSap(
  core: NdisCore,
  afHandle: NdisAfHandle,
  sap: unknown,
  protocolSapContext?: unknown,
): { status: NdisStatus; sapHandle: NdisSapHandle | undefined } {
  const af = core.need(core.afs.get(afHandle), 'NdisClRegisterSap');
  core.tr('call', 'Client', 'NDIS', 'NdisClRegisterSap');
  if (af.state !== 'open') return { status: core.ret('Client', NDIS_STATUS_FAILURE), sapHandle: undefined };
  const h = new NdisSapHandle(core.nextId++);
  const rec = new SapRec(h, af, sap, protocolSapContext);
  core.saps.set(h, rec);
  af.saps.add(rec);
  const r = core.handlerCtx(af.reg.party, 'ProtocolCmRegisterSap', () =>
    af.reg.handlers.cmRegisterSap
      ? af.reg.handlers.cmRegisterSap(af.cmAfContext, sap, h)
      : NDIS_STATUS_SUCCESS,
  );
  const { status, context } = splitResult(r);
  if (status === NDIS_STATUS_PENDING) return { status: core.ret('Client', status), sapHandle: h };
  if (status === NDIS_STATUS_SUCCESS) {
    rec.state = 'open';
    rec.cmSapContext = context ?? h;
    return { status: core.ret('Client', status), sapHandle: h };
  }
  core.saps.delete(h);
  af.saps.delete(rec);
  return { status: core.ret('Client', status), sapHandle: undefined };
}

/** NdisCmRegisterSapComplete */
export function cmRegisterSapComplete(
  core: NdisCore,
  status: NdisStatus,
  sapHandle: NdisSapHandle,
  callMgrSapContext?: unknown,
): void {
  const sap = core.need(core.saps.get(sapHandle), 'NdisCmRegisterSapComplete');
  core.tr('complete-call', sap.af.reg.party, 'NDIS', 'NdisCmRegisterSapComplete', undefined, status);
  if (sap.state !== 'registering') {
    core.verifier.flag(ruleCode(20), 'NdisCmRegisterSapComplete for a registration that did not pend');
    return;
  }
  if (status === NDIS_STATUS_SUCCESS) {
    sap.state = 'open';
    sap.cmSapContext = callMgrSapContext ?? sapHandle;
  } else {
    sap.state = 'closed';
    core.saps.delete(sapHandle);
    sap.af.saps.delete(sap);
  }
  core.delivery.deliver(() => {
    core.tr('deliver', 'NDIS', 'Client', 'ProtocolClRegisterSapComplete', undefined, status);
    sap.af.clientHandlers.clRegisterSapComplete?.(status, sap.clientSapContext, sap.sap, sapHandle);
  });
}

/** NdisClDeregisterSap: FAILURE on a SAP already closing. */
export function clDeregisterSap(core: NdisCore, sapHandle: NdisSapHandle): NdisStatus {
  const sap = core.need(core.saps.get(sapHandle), 'NdisClDeregisterSap');
  core.tr('call', 'Client', 'NDIS', 'NdisClDeregisterSap');
  if (sap.state !== 'open') return core.ret('Client', NDIS_STATUS_FAILURE);
  sap.state = 'closing';
  const st = core.handler(sap.af.reg.party, 'ProtocolCmDeregisterSap', undefined, () =>
    sap.af.reg.handlers.cmDeregisterSap
      ? sap.af.reg.handlers.cmDeregisterSap(sap.cmSapContext)
      : NDIS_STATUS_SUCCESS,
  );
  if (st !== NDIS_STATUS_PENDING) finishDeregisterSap(core, sap, st);
  return core.ret('Client', st);
}

/** NdisCmDeregisterSapComplete */
export function cmDeregisterSapComplete(core: NdisCore, status: NdisStatus, sapHandle: NdisSapHandle): void {
  const sap = core.need(core.saps.get(sapHandle), 'NdisCmDeregisterSapComplete');
  core.tr('complete-call', sap.af.reg.party, 'NDIS', 'NdisCmDeregisterSapComplete', undefined, status);
  if (sap.state !== 'closing') {
    core.verifier.flag(ruleCode(20), 'NdisCmDeregisterSapComplete for a deregistration that did not pend');
    return;
  }
  finishDeregisterSap(core, sap, status);
  core.delivery.deliver(() => {
    core.tr('deliver', 'NDIS', 'Client', 'ProtocolClDeregisterSapComplete', undefined, status);
    sap.af.clientHandlers.clDeregisterSapComplete?.(status, sap.clientSapContext);
  });
}

function finishDeregisterSap(core: NdisCore, sap: SapRec, status: NdisStatus): void {
  if (status === NDIS_STATUS_SUCCESS) {
    sap.state = 'closed';
    core.saps.delete(sap.handle);
    sap.af.saps.delete(sap);
  } else {
    sap.state = 'open';
  }
}

/**
 * NdisMIndicateStatusEx for RESET_START / RESET_END (spec §1.2-J, E65): between the two, NDIS
 * completes every protocol send with RESET_IN_PROGRESS; handles stay valid. Bound protocols see
 * the status through ProtocolCoStatusEx.
 */
export function mIndicateStatus(core: NdisCore, miniport: NdisMiniportHandle, status: NdisStatus): void {
  const mp = core.need(core.miniports.get(miniport), 'NdisMIndicateStatusEx');
  core.tr('call', mp.isMcm ? 'MCM' : 'Miniport', 'NDIS', 'NdisMIndicateStatusEx', undefined, status);
  if (status === NDIS_STATUS_RESET_START) mp.resetting = true;
  else if (status === NDIS_STATUS_RESET_END) mp.resetting = false;
  for (const b of mp.bindings) {
    core.tr(
      'handler',
      'NDIS',
      b.cmAfs.length ? 'CallManager' : 'Client',
      'ProtocolCoStatusEx',
      undefined,
      status,
    );
    b.protocol.handlers.coStatusEx?.(b.bindingContext, undefined, status);
  }
}
