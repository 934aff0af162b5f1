/**
 * The parties of the drain benchmark (lib/scenarios/drain-bench.ts, behind `condis bench drain`)
 * above the miniport: a minimal call manager (no signalling, like lib/vc's PvcCallManager) and a
 * NBL-level client, both stamping the instants the benchmark measures with performance.now()
 * where they happen:
 * - `BenchCallManager.deactivate()` stamps `t0` just before NdisCmDeactivateVc, and `tDone` when
 *   the deactivation completed for the call manager: on a final status when the call returns, or
 *   on entry to ProtocolCmDeactivateVcComplete. PvcCallManager would only tell through a Promise
 *   (one more microtask hop inside the measured span), hence this one.
 * - `BenchClient` stamps the last send completion (ProtocolCoSendNetBufferListsComplete) and the
 *   moment it returned the receives it held (just before NdisReturnNetBufferLists: the miniport
 *   may complete the drain from inside that call).
 *
 * Hot path: sends reuse `capacity` preallocated NBLs over one frame; held receives go to a
 * preallocated array; nothing is allocated per frame or per iteration (trace off).
 */

import { CondisError } from '../errors';
import type {
  CallManagerHandlers,
  NdisAfHandle,
  NdisBindingHandle,
  NdisMiniportHandle,
  NdisVcHandle,
} from '../ndis/actors';
import type { CoCallParameters } from '../ndis/call-parameters';
import { NDIS_RECEIVE_FLAGS_RESOURCES, NetBuffer, NetBufferList } from '../ndis/nbl';
import type { Ndis } from '../ndis/ndis';
import { NDIS_STATUS_PENDING, NDIS_STATUS_SUCCESS, type NdisStatus, statusName } from '../ndis/status';

/** A private address family, so the bench CM never collides with a PvcCallManager. */
export const AF_CONDIS_BENCH = 0xc0d2;

export class BenchCallManager {
  readonly binding: NdisBindingHandle;
  /** The call manager's handle of the one VC the client creates. */
  vc: NdisVcHandle | null = null;
  t0 = 0;
  tDone = 0;
  /** Status the last deactivation completed with; PENDING while it has not. */
  lastStatus: NdisStatus = NDIS_STATUS_SUCCESS;
  private activateWaiter: ((s: NdisStatus) => void) | null = null;

  constructor(
    readonly ndis: Ndis,
    miniport: NdisMiniportHandle,
  ) {
    const proto = ndis.registerProtocol('bench-call-manager', {
      coSendNetBufferListsComplete: () => {},
      coReceiveNetBufferLists: () => {},
    });
    this.binding = ndis.openAdapter(proto, miniport, this);
    const st = ndis.cmRegisterAddressFamily(this.binding, AF_CONDIS_BENCH, this.handlers(), this);
    if (st !== NDIS_STATUS_SUCCESS)
      throw new CondisError('ERR_CONDIS_BENCH_FAILED', `bench call manager: ${statusName(st)}`);
  }

  /** NdisCmDeactivateVc, stamped. Returns what it returned (PENDING: wait for `completed`). */
  deactivate(): NdisStatus {
    this.tDone = 0;
    this.lastStatus = NDIS_STATUS_PENDING;
    this.t0 = performance.now();
    const st = this.ndis.cmDeactivateVc(this.vc!);
    if (st !== NDIS_STATUS_PENDING) {
      this.tDone = performance.now();
      this.lastStatus = st;
    }
    return st;
  }

  get completed(): boolean {
    return this.lastStatus !== NDIS_STATUS_PENDING;
  }

  /** NdisCmActivateVc with a fresh parameter set (a new activation era, spec §3.5c). */
  activate(params: CoCallParameters): Promise<NdisStatus> {
    const st = this.ndis.cmActivateVc(this.vc!, params);
    if (st !== NDIS_STATUS_PENDING) return Promise.resolve(st);
    return new Promise((resolve) => (this.activateWaiter = resolve));
  }

  private handlers(): CallManagerHandlers {
    const ndis = this.ndis;
    return {
      coCreateVc: (_af, h) => {
        this.vc = h;
        return { status: NDIS_STATUS_SUCCESS, context: this };
      },
      coDeleteVc: () => {
        this.vc = null;
        return NDIS_STATUS_SUCCESS;
      },
      cmOpenAf: () => NDIS_STATUS_SUCCESS,
      cmCloseAf: () => NDIS_STATUS_SUCCESS,
      cmRegisterSap: () => NDIS_STATUS_SUCCESS,
      cmDeregisterSap: () => NDIS_STATUS_SUCCESS,
      // No signalling: the call is made once the miniport activated the VC.
      cmMakeCall: (_ctx, params) => ndis.cmActivateVc(this.vc!, params),
      cmActivateVcComplete: (status, _ctx, params) => {
        const w = this.activateWaiter;
        this.activateWaiter = null;
        if (w) w(status);
        else ndis.cmMakeCallComplete(status, this.vc!, undefined, undefined, params);
      },
      cmCloseCall: () => {
        if (ndis.vcInfo(this.vc!)?.activation === 'INACTIVE') return NDIS_STATUS_SUCCESS;
        const st = ndis.cmDeactivateVc(this.vc!);
        return st;
      },
      cmDeactivateVcComplete: (status) => {
        this.tDone = performance.now();
        this.lastStatus = status;
        if (ndis.vcInfo(this.vc!)?.call === 'CLOSING') ndis.cmCloseCallComplete(status, this.vc!);
      },
    };
  }
}

export class BenchClient {
  readonly binding: NdisBindingHandle;
  readonly af: NdisAfHandle;
  vc!: NdisVcHandle;
  /** Send completions and their failures since the last `resetCounts`, and the last one's time. */
  completed = 0;
  failed = 0;
  tLastSend = 0;
  /** Frames indicated (NBLs) and the time the held ones were given back. */
  indicated = 0;
  tReturn = 0;
  hold = false;
  heldCount = 0;
  private readonly held: NetBufferList[];
  private readonly sends: NetBufferList[];

  constructor(
    readonly ndis: Ndis,
    miniport: NdisMiniportHandle,
    readonly capacity: number,
    frame: Uint8Array,
  ) {
    this.held = new Array<NetBufferList>(capacity);
    this.sends = [];
    for (let i = 0; i < capacity; i++)
      this.sends.push(new NetBufferList(new NetBuffer(frame, 0, frame.length)));
    const proto = ndis.registerProtocol('bench-client', {
      coSendNetBufferListsComplete: (_ctx, nbls) => {
        for (let p: NetBufferList | null = nbls; p; p = p.next) {
          this.completed++;
          if (p.status !== NDIS_STATUS_SUCCESS) this.failed++;
        }
        this.tLastSend = performance.now();
      },
      coReceiveNetBufferLists: (_b, _v, nbls, _n, flags) => {
        let n = 0;
        for (let p: NetBufferList | null = nbls; p; p = p.next) n++;
        this.indicated += n;
        if ((flags & NDIS_RECEIVE_FLAGS_RESOURCES) !== 0) return; // ours only during the call
        if (!this.hold) {
          ndis.returnNetBufferLists(this.binding, nbls, 0);
          return;
        }
        for (let p: NetBufferList | null = nbls; p; p = p.next) this.held[this.heldCount++] = p;
      },
    });
    this.binding = ndis.openAdapter(proto, miniport, this);
    const af = ndis.clOpenAddressFamily(this.binding, AF_CONDIS_BENCH, {}, this);
    if (!af.afHandle)
      throw new CondisError('ERR_CONDIS_BENCH_FAILED', `bench client: open AF: ${statusName(af.status)}`);
    this.af = af.afHandle;
  }

  /** NdisCoCreateVc + NdisClMakeCall. */
  async connect(params: CoCallParameters): Promise<NdisStatus> {
    const r = this.ndis.coCreateVc(this.binding, this.af, this);
    if (!r.vcHandle)
      throw new CondisError('ERR_CONDIS_BENCH_FAILED', `bench client: create VC: ${statusName(r.status)}`);
    this.vc = r.vcHandle;
    return this.ndis.clMakeCallAsync(this.vc, params);
  }

  resetCounts(): void {
    this.completed = 0;
    this.failed = 0;
    this.tLastSend = 0;
    this.tReturn = 0;
    this.indicated = 0;
  }

  /** Sends `n` (<= capacity) frames as one list: one NdisCoSendNetBufferLists. */
  send(n: number): void {
    if (n === 0) return;
    const s = this.sends;
    for (let i = 0; i < n; i++) {
      const p = s[i]!;
      p.sourceHandle = this.vc;
      p.status = 0;
      p.next = i + 1 < n ? s[i + 1]! : null;
    }
    this.ndis.coSendNetBufferLists(this.vc, s[0]!, 0);
  }

  /** Returns every held receive with one NdisReturnNetBufferLists, stamped. */
  returnHeld(): number {
    const n = this.heldCount;
    if (n === 0) return 0;
    const h = this.held;
    for (let i = 0; i < n; i++) h[i]!.next = i + 1 < n ? h[i + 1]! : null;
    const head = h[0]!;
    for (let i = 0; i < n; i++) h[i] = undefined as unknown as NetBufferList;
    this.heldCount = 0;
    this.tReturn = performance.now();
    this.ndis.returnNetBufferLists(this.binding, head, 0);
    return n;
  }
}
