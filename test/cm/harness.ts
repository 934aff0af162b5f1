/**
 * Test rig for lib/cm: an endpoint is one host — a Device, its own NDIS runtime (with a
 * ManualClock: signalling timers fire only when a test advances it), the miniport and the
 * stand-alone call manager (or one MCM), and a NBL-level CoNDIS client that makes and takes calls,
 * counts every NBL it gives and gets back, and can hold receives to block a drain.
 */
import { expect } from 'vitest';
import {
  AF_CONDIS_SVC,
  type CallControlOptions,
  CondisCallManager,
  type CondisCallManagerOptions,
  CondisMcm,
} from '../../lib/cm';
import type { Device } from '../../lib/device';
import { condisCallParameters, MiniportAdapter, VcState } from '../../lib/miniport';
import {
  type CoCallParameters,
  chainNbls,
  ManualClock,
  makeNbl,
  NDIS_RECEIVE_FLAGS_RESOURCES,
  NDIS_STATUS_PENDING,
  NDIS_STATUS_SUCCESS,
  Ndis,
  type NdisAfHandle,
  type NdisBindingHandle,
  type NdisMiniportHandle,
  type NdisSapHandle,
  type NdisStatus,
  type NdisVcHandle,
  type NetBufferList,
  statusName,
} from '../../lib/ndis';
import { frame, seqOf } from '../helpers/frames';

export const MAC_1 = Uint8Array.from([0x02, 0, 0, 0, 0x0c, 0x01]);
export const MAC_2 = Uint8Array.from([0x02, 0, 0, 0, 0x0c, 0x02]);
export const SAP = 7;
/** T303/T313/T308 of the tests' call managers (ManualClock ms: nothing fires unless advanced). */
export const RETRANSMIT_MS = 100;

/** The client's side of one call (its ProtocolVcContext). */
export class ClientCall {
  vc!: NdisVcHandle;
  /** NDIS's slot of the VC, kept for the trace after the handle is dead. */
  slot = -1;
  hold = false;
  readonly held: NetBufferList[] = [];
  rxFrames = 0;
  readonly rxSeqs: number[] = [];
  returned = 0;
  given = 0;
  completed = 0;
  readonly statuses = new Map<string, number>();
  connected = 0;
  readonly incomingClose: NdisStatus[] = [];
  /** The close the client started (its own, or its answer to an incoming close). */
  closing: Promise<NdisStatus> | undefined;
  closeStatus: NdisStatus | undefined;
  /** ProtocolCoDeleteVc from the call manager (a VC it created). */
  deletedByCm = false;
  constructor(readonly created: boolean) {}
  status(name: string): number {
    return this.statuses.get(name) ?? 0;
  }
}

export class CallClient {
  readonly binding: NdisBindingHandle;
  readonly af: NdisAfHandle;
  readonly sap: NdisSapHandle;
  /** What ProtocolClIncomingCall answers (SUCCESS accepts). */
  answer: NdisStatus = NDIS_STATUS_SUCCESS;
  /** Answer ProtocolClIncomingCloseCall with NdisClCloseCall once every send is back (spec §1.2-G). */
  closeOnIncoming = true;
  readonly incoming: ClientCall[] = [];
  readonly offers: CoCallParameters[] = [];

  constructor(
    readonly ndis: Ndis,
    miniport: NdisMiniportHandle,
  ) {
    const proto = ndis.registerProtocol('test-client', {
      coSendNetBufferListsComplete: (ctx, nbls) => this.onSendComplete(ctx as ClientCall, nbls),
      coReceiveNetBufferLists: (_b, ctx, nbls, _n, flags) => this.onReceive(ctx as ClientCall, nbls, flags),
    });
    this.binding = ndis.openAdapter(proto, miniport, this);
    const af = ndis.clOpenAddressFamily(this.binding, AF_CONDIS_SVC, {
      coCreateVc: (_afCtx, h) => {
        const c = new ClientCall(false);
        c.vc = h;
        c.slot = ndis.vcInfo(h)!.slot;
        this.incoming.push(c);
        return { status: NDIS_STATUS_SUCCESS, context: c };
      },
      coDeleteVc: (ctx) => {
        (ctx as ClientCall).deletedByCm = true;
        return NDIS_STATUS_SUCCESS;
      },
      clIncomingCall: (_sap, _ctx, params) => {
        this.offers.push(params);
        return this.answer;
      },
      clCallConnected: (ctx) => {
        (ctx as ClientCall).connected++;
      },
      clIncomingCloseCall: (status, ctx) => {
        const c = ctx as ClientCall;
        c.incomingClose.push(status);
        // Not from inside the indication: the close is the client's next step, in its own turn.
        queueMicrotask(() => this.maybeAnswerClose(c));
      },
    });
    if (!af.afHandle) throw new Error(`open AF: ${statusName(af.status)}`);
    this.af = af.afHandle;
    const sap = ndis.clRegisterSap(this.af, SAP, this);
    if (!sap.sapHandle) throw new Error(`register SAP: ${statusName(sap.status)}`);
    this.sap = sap.sapHandle;
  }

  /** NdisCoCreateVc + NdisClMakeCall; on failure the VC is deleted (spec §1.2-E). */
  async makeCall(params: CoCallParameters): Promise<{ status: NdisStatus; call: ClientCall }> {
    const c = new ClientCall(true);
    const r = this.ndis.coCreateVc(this.binding, this.af, c);
    if (!r.vcHandle) throw new Error(`create VC: ${statusName(r.status)}`);
    c.vc = r.vcHandle;
    c.slot = this.ndis.vcInfo(c.vc)!.slot;
    const status = await this.ndis.clMakeCallAsync(c.vc, params);
    if (status !== NDIS_STATUS_SUCCESS) expect(this.ndis.coDeleteVc(c.vc)).toBe(NDIS_STATUS_SUCCESS);
    return { status, call: c };
  }

  /** NdisClCloseCall (spec §3.2), then NdisCoDeleteVc if the client created the VC. */
  closeCall(c: ClientCall): Promise<NdisStatus> {
    c.closing = this.ndis.clCloseCallAsync(c.vc).then((st) => {
      c.closeStatus = st;
      if (st === NDIS_STATUS_SUCCESS && c.created)
        expect(this.ndis.coDeleteVc(c.vc)).toBe(NDIS_STATUS_SUCCESS);
      return st;
    });
    return c.closing;
  }

  /** Sends `count` frames of `size` bytes, seq from `firstSeq`, as one list. */
  sendFrames(c: ClientCall, count: number, firstSeq: number, size = 80): void {
    const nbls: NetBufferList[] = [];
    for (let i = 0; i < count; i++) {
      const nbl = makeNbl(frame(size, firstSeq + i));
      nbl.sourceHandle = c.vc;
      nbls.push(nbl);
    }
    const head = chainNbls(nbls);
    c.given += count;
    if (head) this.ndis.coSendNetBufferLists(c.vc, head, 0);
  }

  /** Returns every held receive NBL (one NdisReturnNetBufferLists). */
  returnHeld(c: ClientCall): number {
    const n = c.held.length;
    if (n === 0) return 0;
    const head = chainNbls(c.held)!;
    c.held.length = 0;
    c.returned += n;
    this.ndis.returnNetBufferLists(this.binding, head, 0);
    return n;
  }

  /** Unbinds (SAP, AF, binding). Every call must be closed. */
  async close(): Promise<void> {
    expect(this.ndis.clDeregisterSap(this.sap)).toBe(NDIS_STATUS_SUCCESS);
    expect(await this.ndis.clCloseAddressFamilyAsync(this.af)).toBe(NDIS_STATUS_SUCCESS);
    expect(this.ndis.closeAdapter(this.binding)).toBe(NDIS_STATUS_SUCCESS);
  }

  private maybeAnswerClose(c: ClientCall): void {
    if (!this.closeOnIncoming || c.closing || c.incomingClose.length === 0 || c.given !== c.completed) return;
    void this.closeCall(c);
  }

  private onSendComplete(c: ClientCall, nbls: NetBufferList): void {
    for (let p: NetBufferList | null = nbls; p; p = p.next) {
      c.completed++;
      const s = statusName(p.status);
      c.statuses.set(s, (c.statuses.get(s) ?? 0) + 1);
    }
    this.maybeAnswerClose(c);
  }

  private onReceive(c: ClientCall, nbls: NetBufferList, flags: number): void {
    for (let p: NetBufferList | null = nbls; p; p = p.next)
      for (let nb = p.firstNetBuffer; nb; nb = nb.next) {
        c.rxFrames++;
        c.rxSeqs.push(seqOf(nb.buffer, nb.dataOffset));
      }
    if ((flags & NDIS_RECEIVE_FLAGS_RESOURCES) !== 0) return;
    if (c.hold) {
      for (let p: NetBufferList | null = nbls; p; p = p.next) c.held.push(p);
      return;
    }
    let n = 0;
    for (let p: NetBufferList | null = nbls; p; p = p.next) n++;
    c.returned += n;
    this.ndis.returnNetBufferLists(this.binding, nbls, 0);
  }
}

/** What a drain looks like from the outside: NDIS's view (stand-alone) or the MCM's miniport (MCM). */
export interface DrainView {
  pending: boolean;
  txInFlight: number;
  rxHeld: number;
}

export interface Endpoint {
  kind: 'cm' | 'mcm';
  device: Device;
  ndis: Ndis;
  clock: ManualClock;
  adapter: MiniportAdapter;
  cm: CondisCallManager | CondisMcm;
  client: CallClient;
  /** VCs NDIS knows when no call is up (the stand-alone CM's signalling VC; none for an MCM). */
  baseVcs: number;
  drain(c: ClientCall): DrainView;
  close(): Promise<void>;
}

function newNdis(): { ndis: Ndis; clock: ManualClock } {
  const clock = new ManualClock();
  return { clock, ndis: new Ndis({ clock, verifier: 'throw' }) };
}

/** A host with the reference miniport and the stand-alone call manager (signalling VC started). */
export async function standaloneEndpoint(
  device: Device,
  mac: Uint8Array,
  opts: Partial<CondisCallManagerOptions> = {},
): Promise<Endpoint & { cm: CondisCallManager }> {
  const { ndis, clock } = newNdis();
  const adapter = new MiniportAdapter(ndis, device);
  const cm = new CondisCallManager(ndis, adapter.handle, { mac, retransmitMs: RETRANSMIT_MS, ...opts });
  await cm.start();
  const client = new CallClient(ndis, adapter.handle);
  return {
    kind: 'cm',
    device,
    ndis,
    clock,
    adapter,
    cm,
    client,
    baseVcs: 1,
    drain: (c) => {
      const i = ndis.vcInfo(c.vc)!;
      return { pending: i.deactivationPending, txInFlight: i.txInMiniport, rxHeld: i.rxHeld };
    },
    close: async () => {
      await client.close();
      await cm.stop();
      expect(ndis.vcCount).toBe(0);
      await adapter.halt();
      expect(ndis.verifier.violations).toEqual([]);
    },
  };
}

/** A host with one MCM (miniport and call manager in one driver). */
export function mcmEndpoint(
  device: Device,
  mac: Uint8Array,
  opts: Partial<CallControlOptions> = {},
): Endpoint & { cm: CondisMcm } {
  const { ndis, clock } = newNdis();
  const cm = new CondisMcm(ndis, device, { mac, retransmitMs: RETRANSMIT_MS, ...opts });
  const client = new CallClient(ndis, cm.handle);
  return {
    kind: 'mcm',
    device,
    ndis,
    clock,
    adapter: cm.adapter,
    cm,
    client,
    baseVcs: 0,
    drain: (c) => {
      const vc = cm.adapter.vcFor(c.vc)!;
      return { pending: vc.state === VcState.Draining, txInFlight: vc.txInFlight, rxHeld: vc.rxHeld };
    },
    close: async () => {
      await client.close();
      expect(ndis.vcCount).toBe(0);
      await cm.halt();
      expect(ndis.verifier.violations).toEqual([]);
    },
  };
}

/**
 * NDIS-visible names (with status) of the events of one VC slot, plus the client's returns
 * (NdisReturnNetBufferLists and the MiniportReturnNetBufferLists it causes, which carry no VC).
 */
export function traceOf(ndis: Ndis, slot: number): string[] {
  const out: string[] = [];
  let lastClientReturn = false;
  for (const e of ndis.trace?.events ?? []) {
    if (e.kind === 'state' || e.kind === 'return' || e.kind === 'handler-return' || e.kind === 'note')
      continue;
    const name = e.status ? `${e.name}:${e.status}` : e.name;
    if (e.vc === slot) out.push(name);
    else if (e.vc === undefined && e.name === 'NdisReturnNetBufferLists' && e.from === 'Client')
      out.push(name);
    else if (e.vc === undefined && e.name === 'MiniportReturnNetBufferLists' && lastClientReturn)
      out.push(name);
    lastClientReturn = e.vc === undefined && e.name === 'NdisReturnNetBufferLists' && e.from === 'Client';
  }
  return out;
}

export function params(vid: number): CoCallParameters {
  return condisCallParameters(vid, { maxSduSize: 1500 });
}

export { inOrder } from '../helpers/in-order';
export { NDIS_STATUS_PENDING };
