/**
 * VcChannel: a VC for people who do not want NBLs. One channel = one tiny CoNDIS client
 * (protocol) with one VC on a condis-tap miniport, so every frame goes through NDIS's rules
 * (sends refused on a VC that is not ready, drain on deactivation, returns counted):
 *
 *   const ch = await VcChannel.open(ndis, adapter, { vid: 42 });   // or adapter.handle
 *   await ch.send(frame);                 // resolves with the NDIS_STATUS of the completion
 *   for await (const f of ch) { ... }     // received frames, until the call is closed
 *   await ch.close();                     // then ch.lastDeactivation: the drain's timing
 *
 * Received frames are COPIES (fresh Uint8Arrays the caller keeps): the channel returns each
 * indication's NBLs to the miniport at once (NdisReturnNetBufferLists from inside
 * ProtocolCoReceiveNetBufferLists), so a slow reader never holds ring buffers and never blocks a
 * deactivation. Frames wait in a bounded queue (`maxQueued`, default 4096); beyond it they are
 * dropped and counted in `dropped`. This is the convenience path: it allocates per frame. Drivers
 * that care use NBLs directly (see lib/miniport).
 *
 * `send(frame)` does not copy: `frame` must stay unchanged until the promise settles.
 *
 * Setup, per channel: NdisRegisterProtocolDriver, NdisOpenAdapterEx, NdisClOpenAddressFamilyEx
 * (AF_CONDIS_PVC, served by a PvcCallManager on the same miniport: one is created on first use),
 * NdisCoCreateVc, NdisClMakeCall with condis call parameters for the VID. close(): waits for its
 * sends, NdisClCloseCall (the call manager deactivates; the close completes once drained),
 * NdisCoDeleteVc, NdisClCloseAddressFamily, NdisCloseAdapterEx. A network-initiated close
 * (ProtocolClIncomingCloseCall) ends the iterator and closes the channel the same way.
 *
 * Node conventions: `signal` (AbortSignal) on open, reads and close, rejecting with Node's
 * AbortError shape (abort.ts); `await using` (Symbol.asyncDispose = close()); events 'deactivated'
 * (each DeactivationRecord of the VC), 'close' (once, fully closed) and 'error' (a device fault,
 * a network-initiated close that failed) — 'error' is emitted ONLY when someone listens: every
 * failure also reaches the caller through a promise (a send's status, close()'s status), so a
 * user who did not subscribe is not crashed by EventEmitter's unhandled-'error' throw. A Duplex
 * over the channel: `stream()`. Failures are CondisErrors with codes (ERR_CONDIS_INVALID_ARG,
 * ERR_CONDIS_VID_IN_USE, ERR_CONDIS_NO_FREE_PAIR, ERR_CONDIS_CALL_FAILED,
 * ERR_CONDIS_CHANNEL_CLOSED).
 *
 * Sits in lib/vc, the plain Node surface, over lib/ndis (a client of the runtime) and beside
 * lib/miniport (the miniport it is opened on).
 */

import { EventEmitter } from 'node:events';
import { Duplex } from 'node:stream';
import type { Device } from '../device/device';
import { CondisError } from '../errors';
import { condisCallParameters, MAX_VID, MIN_VID, vidOf } from '../medium/params';
import {
  type ClientHandlers,
  type NdisAfHandle,
  type NdisBindingHandle,
  NdisMiniportHandle,
  type NdisVcHandle,
} from '../ndis/actors';
import type { CoCallParameters } from '../ndis/call-parameters';
import { NDIS_RECEIVE_FLAGS_RESOURCES, NetBuffer, NetBufferList } from '../ndis/nbl';
import type { Ndis } from '../ndis/ndis';
import type { DeactivationRecord } from '../ndis/options';
import {
  NDIS_STATUS_INVALID_DATA,
  NDIS_STATUS_RESOURCES,
  NDIS_STATUS_SUCCESS,
  type NdisStatus,
  statusName,
} from '../ndis/status';
import { AbortError, abortable, throwIfAborted } from './abort';
import { AF_CONDIS_PVC, PvcCallManager } from './pvc-call-manager';

/** Options of VcChannel.open. */
export interface VcChannelOptions {
  /** VID (= VC id) of the channel, a whole number 1..4094 (ERR_CONDIS_INVALID_ARG otherwise). */
  vid: number;
  /** Parameters for the call (default: condisCallParameters(vid)). */
  callParameters?: CoCallParameters;
  /** Received frames kept for the reader before new ones are dropped (default 4096). */
  maxQueued?: number;
  /** The call manager to use (default: one PvcCallManager per Ndis and miniport). */
  callManager?: PvcCallManager;
  /**
   * Aborts the open: it rejects with AbortError once what it made is torn down again (a call
   * being made is let finish, then closed; the VC deleted, the address family and binding closed).
   */
  signal?: AbortSignal;
}

/**
 * What a channel is opened on: a miniport's handle, or an object that has one (a MiniportAdapter).
 * With a `device` (the adapter's), the device's faults ('deviceFailed', 'backendLost') are the
 * channel's 'error' events.
 */
export type VcChannelMiniport =
  | NdisMiniportHandle
  | { readonly handle: NdisMiniportHandle; readonly device?: Device };

/** Options of VcChannel.stream. */
export interface VcChannelStreamOptions {
  /** Sends in flight before a write waits for a completion (backpressure; default 64). */
  maxInFlight?: number;
}

/** The events of a VcChannel. */
export interface VcChannelEvents {
  /** The VC was deactivated (closing the call, or its call manager deactivating it): its timing. */
  deactivated: [DeactivationRecord];
  /** The channel is closed: the call closed, the VC deleted, the binding closed. Once. */
  close: [];
  /**
   * A device fault (ERR_CONDIS_DEVICE_FAILED, ERR_CONDIS_BACKEND_LOST; when opened on an adapter)
   * or a network-initiated close that failed (ERR_CONDIS_CALL_FAILED). Emitted only while someone
   * listens (see the file comment).
   */
  error: [CondisError];
}

const callManagers = new WeakMap<Ndis, Map<NdisMiniportHandle, PvcCallManager>>();

/** The PvcCallManager serving `miniport` under `ndis`, created on first use. */
export function pvcCallManagerFor(ndis: Ndis, miniport: NdisMiniportHandle): PvcCallManager {
  let m = callManagers.get(ndis);
  if (!m) {
    m = new Map();
    callManagers.set(ndis, m);
  }
  let cm = m.get(miniport);
  if (!cm) {
    cm = new PvcCallManager(ndis, miniport);
    m.set(miniport, cm);
  }
  return cm;
}

/** Whether a VC of `cm` carries `vid` (active, or on its way in or out). */
function vidInUse(ndis: Ndis, cm: PvcCallManager, vid: number): boolean {
  for (const v of cm.vcs) {
    const info = ndis.vcInfo(v.handle);
    if (info && info.activation !== 'INACTIVE' && vidOf(info.callParameters) === vid) return true;
  }
  return false;
}

/** ERR_CONDIS_CALL_FAILED: `call` failed with `status` (its name and number in the message). */
function callFailed(what: string, status: NdisStatus, details: Record<string, unknown> = {}): CondisError {
  const num = `0x${(status >>> 0).toString(16).padStart(8, '0')}`;
  return new CondisError('ERR_CONDIS_CALL_FAILED', `${what} failed: ${statusName(status)} (${num})`, {
    ...details,
    status,
  });
}

type Reader = (r: IteratorResult<Uint8Array>) => void;
const DONE: IteratorResult<Uint8Array> = { done: true, value: undefined };

let channels = 0;

/** A VC as a plain Node object: frames in, frames out (see the file comment). */
export class VcChannel extends EventEmitter<VcChannelEvents> implements AsyncIterable<Uint8Array> {
  /** The client's VC handle. */
  readonly vcHandle: NdisVcHandle;
  /** The VID the channel's call was made on. */
  readonly vid: number;
  /** Frames received (queued for the reader). */
  received = 0;
  /** Frames dropped because the queue was full (or the channel was closing). */
  dropped = 0;
  /** Sends handed to NDIS. */
  sent = 0;
  /** Sends completed (any status). */
  completed = 0;
  /** The timing of the VC's last deactivation (the one of close(), once closed), or undefined. */
  lastDeactivation: DeactivationRecord | undefined = undefined;
  private readonly queue: Uint8Array[] = [];
  private queueHead = 0;
  private readonly readers: Reader[] = [];
  private readonly maxQueued: number;
  private readonly freeNbls: NetBufferList[] = [];
  private idleWaiter: (() => void) | null = null;
  private ended = false;
  private closing: Promise<NdisStatus> | null = null;
  private readonly unsubscribe: () => void;
  private device: Device | undefined;

  private constructor(
    private readonly ndis: Ndis,
    private readonly binding: NdisBindingHandle,
    private readonly af: NdisAfHandle,
    vcHandle: NdisVcHandle,
    vid: number,
    maxQueued: number,
    device: Device | undefined,
  ) {
    super();
    this.vcHandle = vcHandle;
    this.vid = vid;
    this.maxQueued = maxQueued;
    this.unsubscribe = ndis.onDeactivation(this.onDeactivated, vcHandle);
    this.device = device;
    device?.on('deviceFailed', this.onDeviceFault);
    device?.on('backendLost', this.onDeviceFault);
  }

  /**
   * Opens a channel on `miniport` (see the file comment). Rejects with a CondisError:
   * ERR_CONDIS_INVALID_ARG (a VID not 1..4094 or a bad maxQueued; before any NDIS call),
   * ERR_CONDIS_VID_IN_USE (another VC carries the VID), ERR_CONDIS_NO_FREE_PAIR (the miniport
   * has no queue pair left: NDIS_STATUS_RESOURCES), ERR_CONDIS_CALL_FAILED (any other failed
   * call: `details.status`); or with AbortError (`opts.signal`).
   */
  static async open(ndis: Ndis, miniport: VcChannelMiniport, opts: VcChannelOptions): Promise<VcChannel> {
    const vid = opts?.vid;
    if (typeof vid !== 'number' || !Number.isInteger(vid) || vid < MIN_VID || vid > MAX_VID) {
      throw new CondisError(
        'ERR_CONDIS_INVALID_ARG',
        `VcChannel.open: vid ${String(vid)} is not a whole number ${MIN_VID}..${MAX_VID}`,
        { vid },
      );
    }
    const maxQueued = opts.maxQueued ?? 4096;
    if (!Number.isInteger(maxQueued) || maxQueued < 0) {
      throw new CondisError('ERR_CONDIS_INVALID_ARG', `VcChannel.open: maxQueued ${maxQueued} (0 or more)`, {
        maxQueued,
      });
    }
    const signal = opts.signal;
    throwIfAborted(signal, 'VcChannel.open');
    const handle = miniport instanceof NdisMiniportHandle ? miniport : miniport.handle;
    const device = miniport instanceof NdisMiniportHandle ? undefined : miniport.device;
    const cm = opts.callManager ?? pvcCallManagerFor(ndis, handle);
    const inUse = () =>
      new CondisError(
        'ERR_CONDIS_VID_IN_USE',
        `VcChannel.open: VID ${vid} is carried by another VC (the miniport refuses it: NDIS_STATUS_INVALID_DATA)`,
        {
          vid,
        },
      );
    if (vidInUse(ndis, cm, vid)) throw inUse();
    // The channel object is created after the VC exists; handlers reach it through this box.
    const box: { ch: VcChannel | null } = { ch: null };
    const proto = ndis.registerProtocol(`vc-channel-${++channels}`, {
      coSendNetBufferListsComplete: (_vcCtx, nbls) => box.ch?.onSendComplete(nbls),
      coReceiveNetBufferLists: (_bindCtx, _vcCtx, nbls, _n, flags) => box.ch?.onReceive(nbls, flags),
    });
    const binding = ndis.openAdapter(proto, handle, box);
    const handlers: ClientHandlers = {
      clIncomingCloseCall: () => void box.ch?.closeFromNetwork(),
    };
    const af = ndis.clOpenAddressFamily(binding, AF_CONDIS_PVC, handlers, box);
    if (af.status !== NDIS_STATUS_SUCCESS || !af.afHandle) {
      ndis.closeAdapter(binding);
      throw callFailed('VcChannel.open: NdisClOpenAddressFamilyEx', af.status, { vid });
    }
    const vc = ndis.coCreateVc(binding, af.afHandle, box);
    if (vc.status !== NDIS_STATUS_SUCCESS || !vc.vcHandle) {
      await ndis.clCloseAddressFamilyAsync(af.afHandle);
      ndis.closeAdapter(binding);
      throw callFailed('VcChannel.open: NdisCoCreateVc', vc.status, { vid });
    }
    const ch = new VcChannel(ndis, binding, af.afHandle, vc.vcHandle, vid, maxQueued, device);
    box.ch = ch;
    const params = opts.callParameters ?? condisCallParameters(vid);
    const making = ndis.clMakeCallAsync(vc.vcHandle, params);
    let st: NdisStatus;
    try {
      st = await abortable(making, signal, 'VcChannel.open');
    } catch (e) {
      // Aborted while the call is being made: NDIS cannot take the request back, so let it end,
      // then undo it (close the call if it was made) and everything before it.
      if ((await making) === NDIS_STATUS_SUCCESS) await ch.close();
      else await ch.undoOpen();
      throw e;
    }
    if (st !== NDIS_STATUS_SUCCESS) {
      await ch.undoOpen();
      if (st === NDIS_STATUS_RESOURCES) {
        throw new CondisError(
          'ERR_CONDIS_NO_FREE_PAIR',
          `VcChannel.open: no free queue pair for VID ${vid} (NdisClMakeCall: ${statusName(st)})`,
          { vid, status: st },
        );
      }
      // INVALID_DATA on the parameters the channel built itself: the miniport refused the VID
      // because a VC carries it (MiniportCoActivateVc's contract, lib/miniport/control.ts).
      if (st === NDIS_STATUS_INVALID_DATA && (opts.callParameters === undefined || vidInUse(ndis, cm, vid))) {
        const e = inUse();
        e.details.status = st;
        throw e;
      }
      throw callFailed(`VcChannel.open: NdisClMakeCall on VID ${vid}`, st, { vid });
    }
    return ch;
  }

  /**
   * Sends one frame; resolves with its completion status (SUCCESS, or why it failed). Rejects
   * with ERR_CONDIS_CHANNEL_CLOSED once close() was called (or the network closed the call).
   */
  send(frame: Uint8Array): Promise<NdisStatus> {
    if (this.closing) {
      return Promise.reject(
        new CondisError(
          'ERR_CONDIS_CHANNEL_CLOSED',
          `VcChannel on VID ${this.vid}: send on a closed channel`,
          {
            vid: this.vid,
          },
        ),
      );
    }
    return new Promise<NdisStatus>((resolve) => {
      const nbl = this.freeNbls.pop() ?? new NetBufferList(new NetBuffer(frame));
      const nb = nbl.firstNetBuffer!;
      nb.buffer = frame;
      nb.dataOffset = 0;
      nb.dataLength = frame.length;
      nbl.sourceHandle = this.vcHandle;
      nbl.protocolReserved = resolve;
      this.sent++;
      this.ndis.coSendNetBufferLists(this.vcHandle, nbl, 0);
    });
  }

  /**
   * The next received frame, or undefined once the channel is closed and the queue empty.
   * `signal` aborts the wait (AbortError); no frame is lost to an aborted read.
   */
  async receive(opts: { signal?: AbortSignal } = {}): Promise<Uint8Array | undefined> {
    const r = await this.next(opts.signal);
    return r.done ? undefined : r.value;
  }

  /** The received frames (`frames()` without a signal): `for await (const f of ch)`. */
  [Symbol.asyncIterator](): AsyncIterableIterator<Uint8Array> {
    return this.frames();
  }

  /**
   * An async iterator over received frames; it ends when the channel is closed (and the queue is
   * empty). `signal` aborts a waiting next() with AbortError. Breaking out of `for await` (the
   * iterator's return()) ends THIS iterator only: the channel stays open, frames keep queueing
   * for the next reader (another iterator, receive(), the stream) — close() closes the channel.
   */
  frames(opts: { signal?: AbortSignal } = {}): AsyncIterableIterator<Uint8Array> {
    const signal = opts.signal;
    let done = false;
    let pending: Reader | null = null;
    const it: AsyncIterableIterator<Uint8Array> = {
      next: () => {
        if (done) return Promise.resolve(DONE);
        return this.next(signal, (r) => {
          pending = r;
        }).finally(() => {
          pending = null;
        });
      },
      return: () => {
        done = true;
        // A next() still waiting (called by hand) ends now instead of taking a later frame.
        if (pending) {
          const i = this.readers.indexOf(pending);
          if (i >= 0) this.readers.splice(i, 1);
          pending(DONE);
        }
        return Promise.resolve(DONE);
      },
      [Symbol.asyncIterator]: () => it,
    };
    return it;
  }

  /** Frames waiting for the reader. */
  get queued(): number {
    return this.queue.length - this.queueHead;
  }

  /** Whether close() was called (or the network closed the call): sends are refused. */
  get closed(): boolean {
    return this.closing !== null;
  }

  /**
   * Closes the call (NdisClCloseCall once every send has completed, spec §1.2-G), then deletes the
   * VC and unbinds. Resolves with the close status; then 'close' is emitted (on SUCCESS; otherwise
   * the call stays up, K13). Idempotent. `signal` stops the WAIT (AbortError), not the close:
   * a close cannot be taken back, it runs to its end and a later close() returns its status.
   */
  close(opts: { signal?: AbortSignal } = {}): Promise<NdisStatus> {
    if (!this.closing) this.closing = this.doClose();
    return abortable(this.closing, opts.signal, 'VcChannel.close');
  }

  /** `await using ch = await VcChannel.open(...)`: close() at the end of the scope. */
  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }

  /**
   * A Node Duplex over the channel, object mode, one chunk = one frame (a Uint8Array). Writes are
   * sends: up to `maxInFlight` in flight, then a write waits for a completion (backpressure); a
   * send that completes with a failure errors the stream (ERR_CONDIS_CALL_FAILED, details.status);
   * end() stops the sending side once every send has completed (the VC has no half-close: the
   * channel stays open). Reads are received frames; the readable side ends when the channel is
   * closed. Destroying the stream stops its reading and leaves the channel open (close() it).
   */
  stream(opts: VcChannelStreamOptions = {}): Duplex {
    const maxInFlight = opts.maxInFlight ?? 64;
    if (!Number.isInteger(maxInFlight) || maxInFlight < 1) {
      throw new CondisError(
        'ERR_CONDIS_INVALID_ARG',
        `VcChannel.stream: maxInFlight ${maxInFlight} (1 or more)`,
      );
    }
    let inFlight = 0;
    let failure: Error | null = null;
    let writeCb: ((e?: Error | null) => void) | null = null;
    let finalCb: ((e?: Error | null) => void) | null = null;
    let reading = false;
    const readAbort = new AbortController();
    const settled = (): void => {
      inFlight--;
      if (writeCb && (failure || inFlight < maxInFlight)) {
        const cb = writeCb;
        writeCb = null;
        cb(failure);
      }
      if (finalCb && inFlight === 0) {
        const cb = finalCb;
        finalCb = null;
        cb(failure);
      }
    };
    const d = new Duplex({
      objectMode: true,
      write: (chunk: unknown, _enc, cb) => {
        if (failure) return cb(failure);
        if (!(chunk instanceof Uint8Array)) {
          return cb(
            new CondisError('ERR_CONDIS_INVALID_ARG', 'VcChannel.stream: a chunk is one frame, a Uint8Array'),
          );
        }
        inFlight++;
        this.send(chunk).then(
          (st) => {
            if (st !== NDIS_STATUS_SUCCESS && !failure) {
              failure = callFailed(`VcChannel.stream: a send on VID ${this.vid}`, st, { vid: this.vid });
            }
            settled();
          },
          (e: Error) => {
            failure ??= e;
            settled();
          },
        );
        if (failure || inFlight >= maxInFlight) writeCb = cb;
        else cb();
      },
      final: (cb) => {
        if (inFlight === 0) cb(failure);
        else finalCb = cb;
      },
      read: () => {
        if (reading) return;
        reading = true;
        this.next(readAbort.signal).then(
          (r) => {
            reading = false;
            d.push(r.done ? null : r.value);
          },
          () => {
            reading = false; // aborted by destroy
          },
        );
      },
      destroy: (err, cb) => {
        readAbort.abort();
        cb(err);
      },
    });
    return d;
  }

  /** A network-initiated close (ProtocolClIncomingCloseCall): a failure is an 'error' if heard. */
  private closeFromNetwork(): void {
    void this.close().then((st) => {
      if (st !== NDIS_STATUS_SUCCESS && this.listenerCount('error') > 0) {
        this.emit(
          'error',
          callFailed(`VcChannel on VID ${this.vid}: closing the call the network closed`, st),
        );
      }
    });
  }

  private async doClose(): Promise<NdisStatus> {
    this.end();
    if (this.sent !== this.completed) await new Promise<void>((r) => (this.idleWaiter = r));
    const st = await this.ndis.clCloseCallAsync(this.vcHandle);
    if (st !== NDIS_STATUS_SUCCESS) return st; // the call stays up (K13); nothing to delete
    await this.undoOpen();
    setImmediate(() => this.emit('close'));
    return st;
  }

  /** Delete the VC (no call up), close the address family and the binding, stop listening. */
  private async undoOpen(): Promise<void> {
    this.end();
    this.unsubscribe();
    this.device?.off('deviceFailed', this.onDeviceFault);
    this.device?.off('backendLost', this.onDeviceFault);
    this.device = undefined;
    this.ndis.coDeleteVc(this.vcHandle);
    await this.ndis.clCloseAddressFamilyAsync(this.af);
    this.ndis.closeAdapter(this.binding);
  }

  private readonly onDeactivated = (rec: DeactivationRecord): void => {
    this.lastDeactivation = rec;
    this.emit('deactivated', rec);
  };

  private readonly onDeviceFault = (err: CondisError): void => {
    if (this.listenerCount('error') > 0) this.emit('error', err);
  };

  /**
   * The next frame, the end, or (with a signal) AbortError; `onWait` is told the reader when it
   * has to wait (the iterator's return() takes it back).
   */
  private next(signal?: AbortSignal, onWait?: (r: Reader) => void): Promise<IteratorResult<Uint8Array>> {
    if (this.queueHead < this.queue.length) {
      const value = this.queue[this.queueHead]!;
      this.queue[this.queueHead++] = undefined as unknown as Uint8Array;
      if (this.queueHead === this.queue.length) this.queue.length = this.queueHead = 0;
      return Promise.resolve({ done: false, value });
    }
    if (this.ended) return Promise.resolve(DONE);
    if (signal?.aborted)
      return Promise.reject(new AbortError('VcChannel read was aborted', { cause: signal.reason }));
    return new Promise((resolve, reject) => {
      if (!signal) {
        this.readers.push(resolve);
        onWait?.(resolve);
        return;
      }
      const onAbort = (): void => {
        const i = this.readers.indexOf(reader);
        if (i >= 0) this.readers.splice(i, 1);
        reject(new AbortError('VcChannel read was aborted', { cause: signal.reason }));
      };
      const reader: Reader = (r) => {
        signal.removeEventListener('abort', onAbort);
        resolve(r);
      };
      signal.addEventListener('abort', onAbort, { once: true });
      this.readers.push(reader);
      onWait?.(reader);
    });
  }

  private end(): void {
    this.ended = true;
    for (let r = this.readers.shift(); r; r = this.readers.shift()) r(DONE);
  }

  /** ProtocolCoReceiveNetBufferLists: copy every frame, give the NBLs back at once. */
  private onReceive(nbls: NetBufferList, flags: number): void {
    for (let p: NetBufferList | null = nbls; p; p = p.next) {
      for (let nb = p.firstNetBuffer; nb; nb = nb.next) {
        if (this.ended || this.queued >= this.maxQueued) {
          this.dropped++;
          continue;
        }
        const copy = nb.buffer.slice(nb.dataOffset, nb.dataOffset + nb.dataLength);
        this.received++;
        const reader = this.readers.shift();
        if (reader) reader({ done: false, value: copy });
        else this.queue.push(copy);
      }
    }
    // With RESOURCES the miniport owns them again when we return; otherwise hand them back.
    if ((flags & NDIS_RECEIVE_FLAGS_RESOURCES) === 0) this.ndis.returnNetBufferLists(this.binding, nbls, 0);
  }

  /** ProtocolCoSendNetBufferListsComplete: settle each send with its NBL's status. */
  private onSendComplete(nbls: NetBufferList): void {
    for (let p: NetBufferList | null = nbls; p; ) {
      const next: NetBufferList | null = p.next;
      p.next = null;
      const resolve = p.protocolReserved as (s: NdisStatus) => void;
      p.protocolReserved = undefined;
      p.firstNetBuffer!.buffer = EMPTY;
      this.freeNbls.push(p);
      this.completed++;
      resolve(p.status);
      p = next;
    }
    if (this.completed === this.sent && this.idleWaiter) {
      const w = this.idleWaiter;
      this.idleWaiter = null;
      w();
    }
  }
}

const EMPTY = new Uint8Array(0);
