/**
 * The data path (spec §1.2-I, §4): NdisCoSendNetBufferLists (the §4.3 send verdict, the drain's
 * tx count), NdisMCoSendNetBufferListsComplete (routing by SourceHandle, E59-E61),
 * NdisMCoIndicateReceiveNetBufferLists (rx count, U5, E45, E48) and NdisReturnNetBufferLists
 * (E44, E62).
 *
 * Hot path: per call, no allocation, no closure, no Map, one VC lookup per run of same-source
 * NBLs; the trace is tested before anything is built for it. Functions over the NdisCore.
 */
import type { NdisBindingHandle, NdisVcHandle } from './actors';
import type { NdisCore } from './core';
import { CondisErrorCode, ruleCode } from './errors';
import { NblOwner, NDIS_RECEIVE_FLAGS_RESOURCES, type NetBufferList } from './nbl';
import { NDIS_TCP_LARGE_SEND_OFFLOAD_IPv6, NdisCsumTx, type NdisOffload } from './offload';
import { partyOf, roleOf, slotOf, type VcRec } from './registry';
import { NDIS_STATUS_CLOSING, NDIS_STATUS_SUCCESS, NDIS_STATUS_VC_NOT_ACTIVATED } from './status';
import { sendVerdict } from './vc-states';

/**
 * NdisCoSendNetBufferLists: the client on a call VC, or the CM on its signalling VC. Always
 * asynchronous: every NBL comes back exactly once through ProtocolCoSendNetBufferListsComplete,
 * never inside this call. Under 'strict-core' NDIS completes the NBLs itself (§4.3: VC_NOT_ACTIVATED,
 * CLOSING, RESET_IN_PROGRESS) when the VC is not ready; otherwise it hands the list, in order, to
 * MiniportCoSendNetBufferLists and counts it in the VC's drain. Each NBL's sourceHandle must be
 * the VC's handle (E61). Hot path: no allocation.
 */
export function coSendNetBufferLists(
  core: NdisCore,
  vcHandle: NdisVcHandle,
  nbls: NetBufferList,
  sendFlags: number,
): void {
  // The watch hook sees the chain as the protocol passed it; unset, this is one untaken branch.
  const obs = core.observer;
  if (obs !== undefined) obs.onSend?.(vcHandle, nbls);
  const name = 'NdisCoSendNetBufferLists';
  const vc = core.vcOf(vcHandle, name, undefined, true)!;
  const role = roleOf(vcHandle);
  let n = 0;
  for (let p: NetBufferList | null = nbls; p; p = p.next) {
    if (p.ndisOwner !== NblOwner.Owner) {
      core.flag(ruleCode(59), `${name}: an NBL NDIS still holds was sent again`, vc);
    }
    if (slotOf(p.sourceHandle) !== vc.slot) {
      core.flag(ruleCode(61), `${name}: NBL SourceHandle is not the VC's handle`, vc);
    }
    // Offload requests only cost a branch on NBLs that carry none.
    if ((p.lsoMss | p.csumTx) !== 0) {
      const why = offloadRefusal(vc.miniport.offloadCurrent, p);
      if (why !== undefined) core.flag(CondisErrorCode.OFFLOAD_NOT_ADVERTISED, `${name}: ${why}`, vc);
    }
    n++;
  }
  if (core.trace) core.tr('call', partyOf(vc, role), 'NDIS', name, vc, undefined, `n=${n}`);
  let verdict = sendVerdict(core.sendPolicy, vc.a, vc.c, vc.signalling, vc.miniport.resetting);
  if (role !== vc.dataRole || (role === 'client' && vc.clientDetached)) {
    verdict = NDIS_STATUS_VC_NOT_ACTIVATED;
    const detached = role === 'client' && vc.clientDetached;
    core.flag(
      detached ? ruleCode(37) : CondisErrorCode.WRONG_CALLER,
      detached ? `${name} on a CM-created VC after the close completed` : `${name} by the ${role} on this VC`,
      vc,
    );
  }
  if (verdict === NDIS_STATUS_SUCCESS) {
    if (core.sendPolicy === 'pass-through') vc.drain.forceAcquireTx(n);
    else if (!vc.drain.tryAcquireTx(n)) verdict = NDIS_STATUS_CLOSING;
  }
  if (verdict !== NDIS_STATUS_SUCCESS) {
    for (let p: NetBufferList | null = nbls; p; p = p.next) p.status = verdict;
    core.delivery.sendComplete(vc, nbls, 0);
    return;
  }
  for (let p: NetBufferList | null = nbls; p; p = p.next) p.ndisOwner = NblOwner.InMiniport;
  if (core.trace)
    core.tr(
      'handler',
      'NDIS',
      partyOf(vc, 'miniport'),
      'MiniportCoSendNetBufferLists',
      vc,
      undefined,
      `n=${n}`,
    );
  vc.miniport.handlers.coSendNetBufferLists(vc.ctx.miniport, nbls, sendFlags);
}

/**
 * NdisMCoSendNetBufferListsComplete: the miniport hands sends back (any grouping, any order,
 * E60). Each NBL is routed by its sourceHandle (E61) to the sender's
 * ProtocolCoSendNetBufferListsComplete, in a later turn; a second completion of the same NBL is
 * E59 and is dropped. The last completion of a deactivating VC may complete the deactivation.
 */
export function mCoSendNetBufferListsComplete(
  core: NdisCore,
  vcHandle: NdisVcHandle,
  nbls: NetBufferList,
  sendCompleteFlags: number,
): void {
  const name = 'NdisMCoSendNetBufferListsComplete';
  const vc = core.vcOf(vcHandle, name, undefined, true)!;
  // Fast path, the normal case: a prefix of NBLs that NDIS handed to the miniport and that all
  // carry the first one's SourceHandle is one run, taken in a single pass without relinking
  // (a deactivation's drain completes up to a queue's worth of NBLs here at once).
  let head: NetBufferList | null = nbls;
  const h0 = nbls.sourceHandle;
  const vc0 = core.vcs.bySource(h0);
  if (vc0) {
    let n = 0;
    let last: NetBufferList | null = null;
    let p: NetBufferList | null = nbls;
    while (p !== null && p.ndisOwner === NblOwner.InMiniport && p.sourceHandle === h0) {
      p.ndisOwner = NblOwner.Owner;
      n++;
      last = p;
      p = p.next;
    }
    if (last !== null) {
      last.next = null; // cut here: what follows (anything unusual) takes the general path
      completeSendRun(core, vc0, nbls, n, sendCompleteFlags);
      head = p;
    }
  }
  // General path: split the rest into runs of one VC each, dropping NBLs that break E59/E61.
  while (head) {
    let runVc = core.vcs.bySource(head.sourceHandle);
    if (!runVc) {
      core.flag(ruleCode(61), `${name}: NBL SourceHandle names no live VC`, vc);
      runVc = vc;
    }
    let n = 0;
    let runHead: NetBufferList | null = null;
    let runTail: NetBufferList | null = null;
    let p: NetBufferList | null = head;
    while (p && (p === head || core.vcs.bySource(p.sourceHandle) === runVc)) {
      const next: NetBufferList | null = p.next;
      if (p.ndisOwner !== NblOwner.InMiniport) {
        core.flag(ruleCode(59), `${name}: NBL completed twice or never sent`, runVc);
      } else {
        p.ndisOwner = NblOwner.Owner;
        p.next = null;
        if (runTail) runTail.next = p;
        else runHead = p;
        runTail = p;
        n++;
      }
      p = next;
    }
    head = p;
    if (runHead) completeSendRun(core, runVc, runHead, n, sendCompleteFlags);
  }
}

/** One VC's run of `n` completed NBLs: to its sender in a later turn, then out of the drain. */
function completeSendRun(core: NdisCore, vc: VcRec, head: NetBufferList, n: number, flags: number): void {
  if (core.trace)
    core.tr(
      'complete-call',
      partyOf(vc, 'miniport'),
      'NDIS',
      'NdisMCoSendNetBufferListsComplete',
      vc,
      undefined,
      `n=${n}`,
    );
  // Delivery is queued before the drain is released, so the sender sees its completions before
  // the CM sees the deactivation complete (E46).
  core.delivery.sendComplete(vc, head, flags);
  vc.drain.releaseTx(n);
}

/**
 * NdisMCoIndicateReceiveNetBufferLists: receives on a VC, for the protocol that shares it.
 * Without NDIS_RECEIVE_FLAGS_RESOURCES the NBLs count in the drain until returned; with it they
 * are the miniport's again when this returns and never count (E45). On a VC that is not active
 * (E48) or whose call does not carry data yet (U5), NDIS gives the NBLs straight back to
 * MiniportReturnNetBufferLists without involving the protocol.
 */
export function mCoIndicateReceiveNetBufferLists(
  core: NdisCore,
  vcHandle: NdisVcHandle,
  nbls: NetBufferList,
  numberOfNbls: number,
  coReceiveFlags: number,
): void {
  // The watch hook sees every indication, delivered or handed back (U5, E48); one untaken branch unset.
  const obs = core.observer;
  if (obs !== undefined) obs.onIndicate?.(vcHandle, nbls);
  const name = 'NdisMCoIndicateReceiveNetBufferLists';
  const vc = core.vcOf(vcHandle, name, undefined, true)!;
  const resources = (coReceiveFlags & NDIS_RECEIVE_FLAGS_RESOURCES) !== 0;
  let n = 0;
  for (let p: NetBufferList | null = nbls; p; p = p.next) {
    if (p.sourceHandle === 0) p.sourceHandle = vcHandle;
    else if (slotOf(p.sourceHandle) !== vc.slot) {
      core.flag(ruleCode(61), `${name}: NBL SourceHandle is not the VC's handle`, vc);
    }
    if (p.ndisOwner !== NblOwner.Owner) {
      core.flag(ruleCode(62), `${name}: an NBL the protocol still holds was indicated again`, vc);
    }
    if (!resources) p.ndisOwner = NblOwner.HeldByProtocol;
    n++;
  }
  void numberOfNbls;
  if (core.trace)
    core.tr(
      'call',
      partyOf(vc, 'miniport'),
      'NDIS',
      name,
      vc,
      undefined,
      `n=${n}${resources ? ' RESOURCES' : ''}`,
    );
  if (!resources) vc.drain.acquireRx(n);
  const activeEnough = vc.a === 'ACTIVE' || vc.a === 'REACTIVATING' || vc.a === 'DEACTIVATING';
  const callCarriesData =
    vc.signalling ||
    (!vc.clientDetached && (vc.c === 'ACCEPTED' || vc.c === 'CONNECTED' || vc.c === 'MODIFYING'));
  if (activeEnough && callCarriesData) {
    const b = vc.dataBinding;
    const role = vc.dataRole;
    if (core.trace)
      core.tr(
        'handler',
        'NDIS',
        partyOf(vc, role),
        'ProtocolCoReceiveNetBufferLists',
        vc,
        undefined,
        `n=${n}`,
      );
    b.protocol.handlers.coReceiveNetBufferLists(b.bindingContext, vc.ctx[role], nbls, n, coReceiveFlags);
    return;
  }
  // Not delivered: straight back to the miniport (in a later turn, never re-entrantly).
  if (!resources) core.delivery.returnToMiniport(vc, nbls);
  if (!activeEnough) core.flag(ruleCode(48), `${name} on a VC that is ${vc.a}`, vc);
}

/**
 * NdisReturnNetBufferLists: a protocol gives back received NBLs (any grouping, mixing
 * indications and VCs, E62). Each NBL releases one unit of its VC's rxHeld before NDIS calls
 * MiniportReturnNetBufferLists with the list; the last return of a deactivating VC may complete
 * the deactivation (E44).
 */
export function returnNetBufferLists(
  core: NdisCore,
  binding: NdisBindingHandle,
  nbls: NetBufferList,
  returnFlags: number,
): void {
  const name = 'NdisReturnNetBufferLists';
  const b = core.need(core.bindings.get(binding), name);
  let head: NetBufferList | null = null;
  let tail: NetBufferList | null = null;
  let n = 0;
  // One pass. The list is only relinked around NBLs the verifier drops (normally none), and a
  // run of NBLs with the same SourceHandle (normally the whole list) costs one VC lookup and
  // one drain release.
  let runHandle = -1;
  let runVc: VcRec | undefined;
  let runN = 0;
  for (let p: NetBufferList | null = nbls; p; ) {
    const next: NetBufferList | null = p.next;
    const h = p.sourceHandle;
    const vc = h === runHandle ? runVc : core.vcs.bySource(h);
    if (p.ndisOwner !== NblOwner.HeldByProtocol || !vc) {
      core.verifier.flag(
        ruleCode(62),
        `${name}: an NBL that was not indicated (or returned twice)`,
        vc && core.snap(vc),
      );
    } else {
      p.ndisOwner = NblOwner.Owner;
      if (tail === null) head = p;
      else if (tail.next !== p) tail.next = p;
      tail = p;
      n++;
      if (vc !== runVc) {
        if (runVc !== undefined) runVc.drain.releaseRxDeferred(runN);
        runVc = vc;
        runN = 0;
        if (!vc.touched) {
          vc.touched = true;
          core.touched.push(vc);
        }
      }
      runHandle = h;
      runN++;
    }
    p = next;
  }
  if (runVc !== undefined) runVc.drain.releaseRxDeferred(runN);
  if (tail !== null) tail.next = null;
  if (!head) {
    pollTouched(core);
    return;
  }
  if (core.trace) {
    core.tr('call', b.cmAfs.length ? 'CallManager' : 'Client', 'NDIS', name, undefined, undefined, `n=${n}`);
    core.tr(
      'handler',
      'NDIS',
      b.miniport.isMcm ? 'MCM' : 'Miniport',
      'MiniportReturnNetBufferLists',
      undefined,
      undefined,
      `n=${n}`,
    );
  }
  try {
    b.miniport.handlers.returnNetBufferLists(b.miniport.adapterContext, head, returnFlags);
  } finally {
    pollTouched(core);
  }
}

/** Let each VC a return touched complete its stop, now that the miniport has its NBLs back. */
function pollTouched(core: NdisCore): void {
  const t = core.touched;
  for (let i = 0; i < t.length; i++) {
    const vc = t[i]!;
    vc.touched = false;
    vc.drain.poll();
  }
  t.length = 0;
}

/**
 * Why the offloads `nbl` asks for are not in the miniport's current NDIS_OFFLOAD (undefined: they
 * are). LSO needs LsoV2 for its IPVersion; a checksum request needs the transmit checksum of its
 * protocol and IP version (IpHeaderChecksum: IPv4's IpChecksum).
 */
function offloadRefusal(o: NdisOffload | undefined, nbl: NetBufferList): string | undefined {
  if (nbl.lsoMss !== 0) {
    const v6 = nbl.lsoIpVersion === NDIS_TCP_LARGE_SEND_OFFLOAD_IPv6;
    const side = o && (v6 ? o.LsoV2.IPv6 : o.LsoV2.IPv4);
    if (!side || side.MaxOffLoadSize === 0)
      return `an LSOv2 NBL (MSS ${nbl.lsoMss}, IPv${v6 ? 6 : 4}) on a VC whose miniport does not offer LsoV2 for it`;
  }
  const t = nbl.csumTx;
  if (t !== 0) {
    const v6 = (t & NdisCsumTx.IsIPv6) !== 0;
    const tx = o && (v6 ? o.Checksum.IPv6Transmit : o.Checksum.IPv4Transmit);
    const ok =
      o !== undefined &&
      tx !== undefined &&
      (!(t & NdisCsumTx.TcpChecksum) || tx.TcpChecksum) &&
      (!(t & NdisCsumTx.UdpChecksum) || tx.UdpChecksum) &&
      (!(t & NdisCsumTx.IpHeaderChecksum) || (!v6 && o.Checksum.IPv4Transmit.IpChecksum));
    if (!ok) return `a checksum request (0x${t.toString(16)}) on a VC whose miniport does not offer it`;
  }
  return undefined;
}
