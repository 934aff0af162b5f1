/**
 * Test rig for the miniport: a real Device (wire or TAP), the MiniportAdapter over it, the
 * PvcCallManager, and a NBL-level CoNDIS client that counts every NBL it gives and gets back and
 * can hold receives (to block a drain) until told to return them.
 */

import type { Device } from '../../lib/device';
import { MiniportAdapter, type MiniportAdapterOptions } from '../../lib/miniport';
import {
  type CoCallParameters,
  chainNbls,
  makeNbl,
  NDIS_RECEIVE_FLAGS_RESOURCES,
  NDIS_STATUS_SUCCESS,
  Ndis,
  type NdisAfHandle,
  type NdisBindingHandle,
  type NdisOptions,
  type NdisStatus,
  type NdisVcHandle,
  type NetBufferList,
  statusName,
} from '../../lib/ndis';
import { AF_CONDIS_PVC, PvcCallManager } from '../../lib/vc';
import { frame, seqOf } from '../helpers/frames';

export class TestClient {
  readonly binding: NdisBindingHandle;
  readonly af: NdisAfHandle;
  vc!: NdisVcHandle;
  /** Hold received NBLs instead of returning them at once. */
  hold = false;
  readonly held: NetBufferList[] = [];
  /** Frames (NET_BUFFERs) received, their seq numbers, indications, RESOURCES indications. */
  rxFrames = 0;
  readonly rxSeqs: number[] = [];
  indications = 0;
  resourcesIndications = 0;
  /** NBLs returned with NdisReturnNetBufferLists. */
  returned = 0;
  /** NBLs given to NdisCoSendNetBufferLists / completed back, completion statuses by name. */
  given = 0;
  completed = 0;
  readonly statuses = new Map<string, number>();
  /** Every NBL completed to the client, in order (an NBL completed twice appears twice). */
  readonly completedNbls: NetBufferList[] = [];
  incomingClose = 0;

  constructor(
    readonly ndis: Ndis,
    readonly adapter: MiniportAdapter,
    name = 'test-client',
  ) {
    const proto = ndis.registerProtocol(name, {
      coSendNetBufferListsComplete: (_ctx, nbls) => {
        for (let p: NetBufferList | null = nbls; p; p = p.next) {
          this.completed++;
          this.completedNbls.push(p);
          const s = statusName(p.status);
          this.statuses.set(s, (this.statuses.get(s) ?? 0) + 1);
        }
      },
      coReceiveNetBufferLists: (_b, _v, nbls, _n, flags) => {
        this.indications++;
        const resources = (flags & NDIS_RECEIVE_FLAGS_RESOURCES) !== 0;
        if (resources) this.resourcesIndications++;
        for (let p: NetBufferList | null = nbls; p; p = p.next) {
          for (let nb = p.firstNetBuffer; nb; nb = nb.next) {
            this.rxFrames++;
            this.rxSeqs.push(seqOf(nb.buffer, nb.dataOffset));
          }
        }
        if (resources) return;
        if (this.hold) {
          for (let p: NetBufferList | null = nbls; p; p = p.next) this.held.push(p);
        } else {
          let n = 0;
          for (let p: NetBufferList | null = nbls; p; p = p.next) n++;
          this.returned += n;
          ndis.returnNetBufferLists(this.binding, nbls, 0);
        }
      },
    });
    this.binding = ndis.openAdapter(proto, adapter.handle, this);
    const af = ndis.clOpenAddressFamily(this.binding, AF_CONDIS_PVC, {
      clIncomingCloseCall: () => {
        this.incomingClose++;
      },
    });
    if (!af.afHandle) throw new Error(`open AF: ${statusName(af.status)}`);
    this.af = af.afHandle;
  }

  /** NdisCoCreateVc + NdisClMakeCall. */
  async connect(params: CoCallParameters): Promise<NdisStatus> {
    const r = this.ndis.coCreateVc(this.binding, this.af, this);
    if (!r.vcHandle) throw new Error(`create VC: ${statusName(r.status)}`);
    this.vc = r.vcHandle;
    return this.ndis.clMakeCallAsync(this.vc, params);
  }

  /** Sends NBLs as ONE list. */
  sendNbls(nbls: NetBufferList[]): void {
    for (const nbl of nbls) nbl.sourceHandle = this.vc;
    const head = chainNbls(nbls);
    this.given += nbls.length;
    if (head) this.ndis.coSendNetBufferLists(this.vc, head, 0);
  }

  /** Sends `count` copy-path frames of `size` bytes, seq from `firstSeq`, as one list. */
  sendFrames(count: number, firstSeq = 0, size = 64): void {
    const nbls: NetBufferList[] = [];
    for (let i = 0; i < count; i++) nbls.push(makeNbl(frame(size, firstSeq + i)));
    this.sendNbls(nbls);
  }

  /** Returns every held receive NBL (one NdisReturnNetBufferLists). */
  returnHeld(): number {
    const n = this.held.length;
    if (n === 0) return 0;
    const head = chainNbls(this.held)!;
    this.held.length = 0;
    this.returned += n;
    this.ndis.returnNetBufferLists(this.binding, head, 0);
    return n;
  }

  status(name: string): number {
    return this.statuses.get(name) ?? 0;
  }

  /** NdisClCloseCall then NdisCoDeleteVc. */
  async closeAndDelete(): Promise<NdisStatus> {
    const st = await this.ndis.clCloseCallAsync(this.vc);
    if (st === NDIS_STATUS_SUCCESS) this.ndis.coDeleteVc(this.vc);
    return st;
  }
}

export interface Rig {
  ndis: Ndis;
  adapter: MiniportAdapter;
  cm: PvcCallManager;
  client: TestClient;
}

export function makeRig(
  device: Device,
  ndisOpts: NdisOptions = {},
  mpOpts: MiniportAdapterOptions = {},
): Rig {
  const ndis = new Ndis({ verifier: 'throw', ...ndisOpts });
  const adapter = new MiniportAdapter(ndis, device, mpOpts);
  const cm = new PvcCallManager(ndis, adapter.handle);
  const client = new TestClient(ndis, adapter);
  return { ndis, adapter, cm, client };
}

/** NDIS-visible names of the trace for one VC slot, data-path calls included. */
export function traceNames(ndis: Ndis, vcHandle: NdisVcHandle): string[] {
  const slot = ndis.vcInfo(vcHandle)?.slot;
  return (ndis.trace?.events ?? [])
    .filter((e) => (slot === undefined || e.vc === slot || e.vc === undefined) && e.kind !== 'state')
    .filter((e) => e.kind !== 'return' && e.kind !== 'handler-return')
    .map((e) => (e.status ? `${e.name}:${e.status}` : e.name));
}

export { inOrder } from '../helpers/in-order';
