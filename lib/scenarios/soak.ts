/**
 * `condis soak` as a library: random churn for a given time on several VCs at once, over the real
 * stack — a Device (the wire, or a TAP looped to a second TAP through the kernel), NDIS with the
 * verifier on, the reference MiniportAdapter, the PvcCallManager, and a client (soak-client.ts)
 * that sends at full rate and holds and returns receives at random — with every invariant checked
 * as it goes. Returns a typed report; lib/cli/soak.ts renders it.
 *
 * Who does what, concurrently:
 * - one actor per VC slot picks the next operation from a seeded random stream (its own, so the
 *   sequence of operations of a slot replays with the seed): create the VC, make the call,
 *   re-activate it (NdisCmActivateVc again, or NdisClModifyCallQoS), deactivate it without a
 *   close and activate it again, close the call (the call manager deactivates: the drain),
 *   tear it down from the network side (incoming close, deactivation at once, the client's close
 *   racing the drain), switch how the client holds receives, delete the VC;
 * - the pump (one macrotask after another) keeps every ready VC's send window full, and the
 *   peer's transmit rings full, with probes now and then: a send on a VC that is not ready (it
 *   must be refused), an oversized send (INVALID_LENGTH), zero-copy sends from ring memory;
 * - the returner gives held receives back at random, in lists that mix VCs, and pauses now and
 *   then (sometimes past the deactivation deadline: the drain must then be aborted, coded);
 * - the peer stops (no receive buffers: on the wire, A's sends stall on the ring) and resumes, and
 *   on a TAP is also destroyed and opened again;
 * - a watchdog (every 100 ms) compares the client's, NDIS's and the miniport's counts of each
 *   VC's outstanding work, and looks for late deactivations and stuck sends.
 * Checked as it goes (soak-client.ts has the data-path checks): every send completes exactly once
 * with a status that fits the VC's state when it was sent; every receive is indicated once,
 * returned once, and only on a ready VC, on the right VID; every deactivation completes SUCCESS
 * with nothing of the client's left out, or fails with a coded error (a vcAbort) that something
 * outside the miniport explains, within its deadline; no verifier violation. At the end every VC
 * is closed and deleted, every NBL and buffer is back, and the process's descriptors and
 * threads are what they were before.
 */

import { Histogram } from '../bench/histogram';
import type { Device } from '../device/device';
import type { CondisError } from '../errors';
import { condisCallParameters } from '../medium/params';
import { MiniportAdapter } from '../miniport/adapter';
import type { MiniportCoHandlers, NdisVcHandle } from '../ndis/actors';
import { CondisErrorCode } from '../ndis/errors';
import { Ndis } from '../ndis/ndis';
import { NDIS_STATUS_PENDING, NDIS_STATUS_SUCCESS, type NdisStatus, statusName } from '../ndis/status';
import { PvcCallManager, type PvcVc } from '../vc/pvc-call-manager';
import { type ProcessSample, sampleProcess } from './process-sample';
import { freshSeed, Random } from './random';
import { HoldMode, type SoakCheck, SoakClient, type SoakVc, type SoakViolation } from './soak-client';
import { FIRST_VID, openSoakBed, type SoakBed } from './soak-peer';

export type { SoakCheck, SoakViolation } from './soak-client';

export interface SoakOptions {
  backend: 'wire' | 'tap';
  /** How long the churn runs (the setup and the final teardown come on top). */
  seconds: number;
  /** VCs churned at once, 1..16 (default 4). */
  vcs?: number;
  /** Seed of every random decision (default: a fresh one, reported). */
  seed?: number;
  /** Descriptors per queue, a power of two 16..4096 (default 256). */
  queueSize?: number;
  /** NDIS's deactivation deadline, ms (default 2000). */
  deadlineMs?: number;
  /** Stops the churn early; the teardown and the report still happen. */
  signal?: AbortSignal;
  /** Called once the devices are open, before the churn: what runs, and its seed. */
  onStart?: (info: { backend: 'wire' | 'tap'; seed: number; note: string }) => void;
  /** Called every `progressEveryMs` (default 10 s) with the figures so far. */
  onProgress?: (p: SoakProgress) => void;
  progressEveryMs?: number;
  /**
   * Test seam: replaces the miniport's handlers as registered with NDIS (a deliberately broken
   * driver, to prove that the soak's checks fail when they should).
   */
  miniportHandlers?: (handlers: MiniportCoHandlers, ndis: Ndis) => MiniportCoHandlers;
}

export interface SoakProgress {
  elapsedS: number;
  ops: number;
  sends: number;
  receives: number;
  deactivations: number;
  violations: number;
  rssBytes: number;
}

export const SOAK_OPS = [
  'createVc',
  'makeCall',
  'reactivate',
  'modifyQos',
  'deactivate',
  'activate',
  'closeCall',
  'teardown',
  'deleteVc',
  'holdMode',
  'returnerPause',
  'peerStop',
  'peerRestart',
  'refusedSendProbe',
  'oversizedSendProbe',
  'zeroCopySends',
] as const;
export type SoakOp = (typeof SOAK_OPS)[number];

export interface SoakReport {
  backend: 'wire' | 'tap';
  note: string;
  seed: number;
  vcs: number;
  queueSize: number;
  deadlineMs: number;
  /** How long the churn ran, s. */
  seconds: number;
  interrupted: boolean;
  ops: Record<SoakOp, { count: number; perSecond: number }>;
  sends: { given: number; completed: number; perSecond: number; byStatus: Record<string, number> };
  receives: { indicated: number; indicatedResources: number; returned: number; perSecond: number };
  peer: { sent: number; received: number; restarts: number };
  deactivations: {
    /** NdisCmDeactivateVc calls the miniport took (refused ones apart). */
    count: number;
    pended: number;
    succeeded: number;
    /** Failed (aborted) deactivations by the code of their vcAbort. */
    aborted: Record<string, number>;
    refused: number;
    /** Every deactivation the miniport took, NdisCmDeactivateVc to its completion (aborts included). */
    p50Ms: number;
    p99Ms: number;
    worstMs: number;
    /** Those that drained (SUCCESS) only. */
    drainedP99Ms: number;
    drainedWorstMs: number;
  };
  /**
   * Process figures: `before` the devices were opened, `start` when the churn began, `warm` once
   * the first tenth of it (at most 30 s) ran, `end` when it ended and every VC was gone (devices
   * still open), `after` everything was closed. Heap figures follow a full GC.
   */
  process: {
    before: ProcessSample;
    start: ProcessSample;
    warm: ProcessSample;
    end: ProcessSample;
    after: ProcessSample;
  };
  violations: SoakViolation[];
  violationCount: number;
  violationsByCheck: Partial<Record<SoakCheck, number>>;
  passed: boolean;
}

/** Violations kept in the report (all are counted). */
const MAX_VIOLATIONS = 200;
/** JS heap growth from `warm` to `end` that counts as a leak. */
const HEAP_GROWTH_LIMIT = 16 * 1024 * 1024;
/** Largest frame the client sends (below every maxSduSize the soak activates with). */
const MAX_SEND_FRAME = 1200;
const SDU_CHOICES = [0, 1200, 1500] as const;

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

interface PendingDeactivation {
  t0: number;
  lateReported: boolean;
}

interface AbortRecord {
  code: string;
  at: number;
  held: number;
  readyOut: number;
  peerStopped: boolean;
}

class Timeout extends Error {}

/** Runs the soak; resolves with the report (it never throws for a violation: `passed` says). */
export async function soak(options: SoakOptions): Promise<SoakReport> {
  const run = new SoakRun(options);
  return run.run();
}

class SoakRun {
  readonly backend: 'wire' | 'tap';
  readonly seconds: number;
  readonly nvcs: number;
  readonly seed: number;
  readonly queueSize: number;
  readonly deadlineMs: number;
  readonly graceMs: number;
  readonly resumeWindowMs: number;
  readonly opTimeoutMs: number;
  readonly violations: SoakViolation[] = [];
  violationCount = 0;
  readonly byCheck: Partial<Record<SoakCheck, number>> = {};
  readonly ops = Object.fromEntries(SOAK_OPS.map((k) => [k, 0])) as Record<SoakOp, number>;
  readonly deactTimes = new Histogram();
  readonly drainTimes = new Histogram();
  deactCount = 0;
  deactPended = 0;
  deactSucceeded = 0;
  deactRefused = 0;
  readonly deactAborted: Record<string, number> = {};
  t0 = 0;
  churnSeconds = 0;
  /** The churn is ending: no new operation starts. */
  stopping = false;
  /** Every VC actor has finished its last operation. */
  actorsDone = false;
  interrupted = false;
  // The stack (set up in run()).
  bed!: SoakBed;
  ndis!: Ndis;
  adapter!: MiniportAdapter;
  cm!: PvcCallManager;
  client!: SoakClient;
  readonly pending = new Map<SoakVc, PendingDeactivation>();
  readonly lastAbort = new Map<SoakVc, AbortRecord>();
  readonly bySlot = new Map<number, SoakVc>();
  lastPeerResumeAt = 0;
  returnerPausedUntil = 0;
  private pumpHandle: NodeJS.Immediate | null = null;
  private readonly pumpRng: Random;

  constructor(readonly o: SoakOptions) {
    this.backend = o.backend;
    this.seconds = o.seconds;
    this.nvcs = o.vcs ?? 4;
    this.seed = o.seed ?? freshSeed();
    this.queueSize = o.queueSize ?? 256;
    this.deadlineMs = o.deadlineMs ?? 2000;
    this.graceMs = Math.max(1000, this.deadlineMs / 2);
    this.resumeWindowMs = Math.max(250, this.deadlineMs / 4);
    // A request waits at most for two deadlines (a close retries a failed drain once) and grace.
    this.opTimeoutMs = 2 * this.deadlineMs + 2 * this.graceMs + 5000;
    this.pumpRng = this.stream(0);
  }

  /** An independent random stream: k = 0 the pump, 1 the returner, 2 the peer, 10+i VC i. */
  private stream(k: number): Random {
    return new Random((this.seed + Math.imul(0x9e3779b9, k + 1)) >>> 0);
  }

  private now(): number {
    return performance.now() - this.t0;
  }

  flag = (check: SoakCheck, message: string, vc?: number, code?: string): void => {
    this.violationCount++;
    this.byCheck[check] = (this.byCheck[check] ?? 0) + 1;
    if (this.violations.length < MAX_VIOLATIONS) {
      const v: SoakViolation = { check, message, atMs: Math.round(this.now()) };
      if (vc !== undefined) v.vc = vc;
      if (code !== undefined) v.code = code;
      this.violations.push(v);
    }
  };

  async run(): Promise<SoakReport> {
    const before = sampleProcess();
    const rng = new Random(this.seed);
    const peerSizes = Array.from({ length: this.nvcs }, () => rng.int(60, 1000));
    this.bed = openSoakBed({
      backend: this.backend,
      vcs: this.nvcs,
      queueSize: this.queueSize,
      frameSizes: peerSizes,
      onMisrouted: (vc, what) => this.flag('misrouted-frame', what, vc),
    });
    let start = before;
    let warm = before;
    let end = before;
    try {
      this.o.onStart?.({ backend: this.backend, seed: this.seed, note: this.bed.note });
      this.setUpStack(this.bed.ours);
      start = sampleProcess();
      warm = await this.churn(() => sampleProcess());
      await this.wind();
      end = sampleProcess();
    } finally {
      await this.tearDown();
    }
    const after = await this.settledSample(before);
    if (after.fds > before.fds)
      this.flag('leak', `file descriptors: ${before.fds} before the run, ${after.fds} after it`);
    if (after.threads > before.threads)
      this.flag('leak', `threads: ${before.threads} before the run, ${after.threads} after it`);
    if (end.heapUsedBytes - warm.heapUsedBytes > HEAP_GROWTH_LIMIT)
      this.flag(
        'leak',
        `JS heap grew ${((end.heapUsedBytes - warm.heapUsedBytes) / 1048576).toFixed(1)} MiB during the churn`,
      );
    return this.report({ before, start, warm, end, after });
  }

  // -----------------------------------------------------------------------------------------------
  // The stack

  private setUpStack(dev: Device): void {
    const ndis = new Ndis({
      verifier: 'report',
      trace: false,
      deactivationDeadlineMs: this.deadlineMs,
      onViolation: (e) => {
        // A drain that hit the deadline is judged where its abort completes (explained or not).
        if (e.code === CondisErrorCode.DRAIN_TIMEOUT) return;
        const slot = (e as { vc?: { slot: number } }).vc?.slot;
        const vc = slot === undefined ? undefined : this.bySlot.get(slot);
        this.flag('verifier', e.message, vc?.index, e.code);
      },
    });
    this.ndis = ndis;
    const wrap = this.o.miniportHandlers;
    this.adapter = new MiniportAdapter(ndis, dev, {
      name: 'soak-miniport',
      // RESOURCES indications once the client holds most of a ring (E45's path).
      rxResourcesThreshold: Math.max(4, this.queueSize >>> 3),
      ...(wrap ? { register: (h, ad) => ndis.registerMiniport('soak-miniport', wrap(h, ndis), ad) } : {}),
    });
    this.adapter.on('vcAbort', (e) => this.onVcAbort(e));
    this.adapter.on('queueReset', (e) =>
      this.flag('verifier', `unexpected queue reset: ${e.message}`, undefined, e.code),
    );
    this.cm = this.observedCallManager();
    this.client = new SoakClient(
      ndis,
      this.adapter,
      {
        vcs: this.nvcs,
        window: 2 * this.queueSize,
        maxFrame: MAX_SEND_FRAME,
        frameCapacity: this.adapter.frameCapacity,
      },
      this.flag,
    );
    this.client.onIncomingClose = () => {};
  }

  /**
   * The PvcCallManager, observed: every NdisCmDeactivateVc it makes is stamped (the instance's
   * method is wrapped), and its ProtocolCmDeactivateVcComplete is seen first by the soak (its
   * handlers are wrapped as it registers them), so every deactivation is timed and judged.
   */
  private observedCallManager(): PvcCallManager {
    const ndis = this.ndis;
    const register = ndis.cmRegisterAddressFamily;
    ndis.cmRegisterAddressFamily = (binding, af, handlers, ctx) => {
      const inner = handlers.cmDeactivateVcComplete;
      return register.call(
        ndis,
        binding,
        af,
        {
          ...handlers,
          cmDeactivateVcComplete: (status, cmCtx) => {
            this.onDeactivateComplete(status, (cmCtx as PvcVc).handle);
            inner?.(status, cmCtx);
          },
        },
        ctx,
      );
    };
    let cm: PvcCallManager;
    try {
      cm = new PvcCallManager(ndis, this.adapter.handle, 'soak-call-manager');
    } finally {
      ndis.cmRegisterAddressFamily = register;
    }
    const deactivate = ndis.cmDeactivateVc;
    ndis.cmDeactivateVc = (h: NdisVcHandle) => this.onCmDeactivate(h, (x) => deactivate.call(ndis, x));
    return cm;
  }

  private vcOfHandle(h: NdisVcHandle): SoakVc | undefined {
    const slot = this.ndis.vcInfo(h)?.slot;
    return slot === undefined ? undefined : this.bySlot.get(slot);
  }

  /** NdisCmDeactivateVc, as the call manager makes it: the VC stops being ready before the call. */
  private onCmDeactivate(h: NdisVcHandle, real: (h: NdisVcHandle) => NdisStatus): NdisStatus {
    const vc = this.vcOfHandle(h);
    if (!vc) return real(h);
    const wasActive = vc.active;
    vc.active = false;
    const t0 = performance.now();
    const st = real(h);
    if (st === NDIS_STATUS_PENDING) {
      this.deactCount++;
      this.deactPended++;
      this.pending.set(vc, { t0, lateReported: false });
    } else if (st === NDIS_STATUS_SUCCESS) {
      this.deactCount++;
      const ns = (performance.now() - t0) * 1e6;
      this.deactTimes.record(ns);
      this.drainTimes.record(ns);
      this.deactSucceeded++;
      // The completions of the last sends are on their way to the client (NDIS delivers in
      // microtasks, queued before this one): check once they are in.
      queueMicrotask(() => this.checkDrained(vc, 'synchronously'));
    } else {
      // Refused (NOT_ACCEPTED, CLOSING): nothing changed.
      vc.active = wasActive;
      this.deactRefused++;
    }
    return st;
  }

  /** ProtocolCmDeactivateVcComplete, before the call manager sees it. */
  private onDeactivateComplete(status: NdisStatus, h: NdisVcHandle): void {
    const vc = this.vcOfHandle(h);
    if (!vc) return;
    const p = this.pending.get(vc);
    this.pending.delete(vc);
    const ms = p ? performance.now() - p.t0 : Number.NaN;
    if (p) this.deactTimes.record(ms * 1e6);
    if (ms > this.deadlineMs + this.graceMs)
      this.flag(
        'deactivation-late',
        `a deactivation completed after ${ms.toFixed(0)} ms (deadline ${this.deadlineMs} ms)`,
        vc.index,
      );
    if (status === NDIS_STATUS_SUCCESS) {
      if (p) this.drainTimes.record(ms * 1e6);
      this.deactSucceeded++;
      this.checkDrained(vc, 'on completion');
      return;
    }
    // A failed deactivation leaves the VC active (spec A11).
    vc.active = true;
    const a = this.lastAbort.get(vc);
    if (!a || !p || a.at < p.t0) {
      this.deactAborted[statusName(status)] = (this.deactAborted[statusName(status)] ?? 0) + 1;
      this.flag(
        'deactivation-failure',
        `a deactivation failed with ${statusName(status)} and no coded error (no vcAbort)`,
        vc.index,
      );
      return;
    }
    this.deactAborted[a.code] = (this.deactAborted[a.code] ?? 0) + 1;
    if (a.code !== CondisErrorCode.DRAIN_TIMEOUT) {
      this.flag(
        'deactivation-failure',
        `a deactivation was aborted with ${a.code} (nothing in a soak fails the backend)`,
        vc.index,
        a.code,
      );
    } else if (!(a.held > 0 || (this.backend === 'wire' && a.readyOut > 0 && a.peerStopped))) {
      this.flag(
        'deactivation-failure',
        `a deactivation hit its deadline though the client held no receive of the VC and ${this.backend === 'wire' ? 'the peer was taking frames' : 'a TAP never holds sends'} (${a.readyOut} send(s) out)`,
        vc.index,
        a.code,
      );
    }
  }

  /** The miniport aborted a drain: record why, and what could explain it, at that instant. */
  private onVcAbort(e: CondisError): void {
    const vid = e.details.vid as number;
    const vc = this.client.vcs[vid - FIRST_VID];
    if (!vc) {
      this.flag(
        'deactivation-failure',
        `vcAbort on VID ${vid}, which no soak VC carries: ${e.message}`,
        undefined,
        e.code,
      );
      return;
    }
    const at = performance.now();
    this.lastAbort.set(vc, {
      code: e.code,
      at,
      held: vc.held,
      readyOut: vc.readyOutstanding,
      peerStopped: !this.bed.peer.running || at - this.lastPeerResumeAt < this.resumeWindowMs,
    });
  }

  /** A deactivation completed SUCCESS: nothing of the client may be left out on the VC (E44, E46). */
  private checkDrained(vc: SoakVc, when: string): void {
    if (vc.readyOutstanding !== 0 || vc.held !== 0)
      this.flag(
        'deactivation-left-work',
        `a deactivation completed SUCCESS ${when} with ${vc.readyOutstanding} send(s) of the client out and ${vc.held} receive(s) held`,
        vc.index,
      );
  }

  // -----------------------------------------------------------------------------------------------
  // The churn

  private async churn(sample: () => ProcessSample): Promise<ProcessSample> {
    this.t0 = performance.now();
    const endAt = this.seconds * 1000;
    const signal = this.o.signal;
    const onAbort = () => {
      this.interrupted = true;
      this.stopping = true;
    };
    signal?.addEventListener('abort', onAbort);
    if (signal?.aborted) onAbort();
    this.lastPeerResumeAt = performance.now();
    this.pump();
    const watchdog = setInterval(() => this.watch(), 100);
    const every = this.o.progressEveryMs ?? 10_000;
    const progress = this.o.onProgress ? setInterval(() => this.o.onProgress!(this.progress()), every) : null;
    const actors = this.client.vcs.map((vc) => this.vcActor(vc, this.stream(10 + vc.index)));
    // The returner and the peer serve the actors until the last one is done.
    const helpers = [this.returner(this.stream(1)), this.peerActor(this.stream(2))];
    let warm: ProcessSample | null = null;
    const warmAt = Math.min(endAt / 10, 30_000);
    try {
      while (!this.stopping && this.now() < endAt) {
        await sleep(Math.min(100, endAt - this.now()));
        if (warm === null && this.now() >= warmAt) warm = sample();
      }
      this.stopping = true;
      await Promise.all(actors);
      this.actorsDone = true;
      await Promise.all(helpers);
    } finally {
      this.actorsDone = true;
      this.stopping = true;
      clearInterval(watchdog);
      if (progress) clearInterval(progress);
      signal?.removeEventListener('abort', onAbort);
    }
    this.churnSeconds = this.now() / 1000;
    return warm ?? sample();
  }

  /** One macrotask of full-rate traffic, then the next. */
  private pump = (): void => {
    this.pumpHandle = null;
    if (this.stopping) return;
    const rng = this.pumpRng;
    const client = this.client;
    for (const vc of client.vcs) {
      if (vc.handle === null || vc.quiet) continue;
      if (vc.ready) {
        if (rng.chance(1 / 4096) && client.sendOversized(vc)) this.ops.oversizedSendProbe++;
        if (vc.free.length > 0) {
          const size = rng.int(60, vc.maxSdu === 0 ? MAX_SEND_FRAME : Math.min(vc.maxSdu, MAX_SEND_FRAME));
          if (rng.chance(1 / 64)) {
            if (client.sendZeroCopy(vc, rng.int(1, 8), size) > 0) this.ops.zeroCopySends++;
          } else {
            client.send(vc, Math.min(64, vc.free.length), size);
          }
        }
      } else if (rng.chance(1 / 512) && vc.call !== 'making') {
        // A send on a VC that is not ready must be refused (CLOSING / VC_NOT_ACTIVATED).
        if (client.send(vc, 1, 60) > 0) this.ops.refusedSendProbe++;
      }
    }
    this.bed.peer.pump();
    this.pumpHandle = setImmediate(this.pump);
  };

  /** The watchdog: counts agree, no deactivation past its deadline, no send stuck. */
  private watch(): void {
    this.client.crossCheck();
    const now = performance.now();
    for (const [vc, p] of this.pending) {
      if (!p.lateReported && now - p.t0 > this.deadlineMs + this.graceMs) {
        p.lateReported = true;
        this.flag(
          'deactivation-late',
          `a deactivation is still pending after ${(now - p.t0).toFixed(0)} ms (deadline ${this.deadlineMs} ms)`,
          vc.index,
        );
      }
    }
    const stuckMs = this.deadlineMs + this.graceMs;
    const peerUpFor = this.bed.peer.running ? now - this.lastPeerResumeAt : 0;
    for (const vc of this.client.vcs) {
      if (
        vc.outstanding > 0 &&
        !vc.stuckReported &&
        peerUpFor > stuckMs &&
        now - vc.lastTxProgress > stuckMs
      ) {
        vc.stuckReported = true;
        this.flag(
          'send-never-completed',
          `VC ${vc.index}: ${vc.outstanding} send(s) out and none completed for ${(now - vc.lastTxProgress).toFixed(0)} ms with the peer taking frames`,
          vc.index,
        );
      }
    }
  }

  private progress(): SoakProgress {
    const vcs = this.client.vcs;
    let ops = 0;
    for (const k of SOAK_OPS) ops += this.ops[k];
    return {
      elapsedS: Math.round(this.now() / 1000),
      ops,
      sends: vcs.reduce((n, v) => n + v.completed, 0),
      receives: vcs.reduce((n, v) => n + v.indicated + v.indicatedResources, 0),
      deactivations: this.deactCount,
      violations: this.violationCount,
      rssBytes: process.memoryUsage().rss,
    };
  }

  /** Awaits `p`, or flags the request and rejects with Timeout after opTimeoutMs. */
  private async timed<T>(p: Promise<T>, what: string, vc: SoakVc): Promise<T> {
    let timer: NodeJS.Timeout | undefined;
    const t = new Promise<never>((_, reject) => {
      timer = setTimeout(() => {
        this.flag('request', `${what} did not complete within ${this.opTimeoutMs} ms`, vc.index);
        reject(new Timeout(what));
      }, this.opTimeoutMs);
    });
    try {
      return await Promise.race([p, t]);
    } finally {
      clearTimeout(timer);
    }
  }

  /** Resolves once `cond()` holds; flags the request and throws Timeout after opTimeoutMs. */
  private async waitFor(cond: () => boolean, what: string, vc: SoakVc): Promise<void> {
    const until = performance.now() + this.opTimeoutMs;
    while (!cond()) {
      if (performance.now() > until) {
        this.flag('request', `${what}: not within ${this.opTimeoutMs} ms`, vc.index);
        throw new Timeout(what);
      }
      await sleep(2);
    }
  }

  private params(rng: Random, vc: SoakVc) {
    const sdu = SDU_CHOICES[rng.int(0, SDU_CHOICES.length - 1)]!;
    return { sdu, params: condisCallParameters(vc.vid, { maxSduSize: sdu }) };
  }

  /** One VC slot's churn: one operation at a time, until the run stops. */
  private async vcActor(vc: SoakVc, rng: Random): Promise<void> {
    try {
      while (!this.stopping) {
        await this.step(vc, rng);
        await sleep(rng.int(0, 30));
      }
    } catch (e) {
      if (!(e instanceof Timeout)) this.flag('request', `VC ${vc.index}: ${(e as Error).message}`, vc.index);
      vc.wedged = true;
    }
  }

  private async step(vc: SoakVc, rng: Random): Promise<void> {
    if (vc.handle === null) return this.createVc(vc);
    if (vc.call === 'idle') {
      if (rng.chance(0.8)) return this.makeCall(vc, rng);
      return this.deleteVc(vc);
    }
    if (vc.call === 'close-indicated') return this.closeCall(vc);
    if (vc.call !== 'connected')
      throw new Error(`VC ${vc.index} in call state ${vc.call} between operations`);
    if (!vc.active) {
      if (rng.chance(0.7)) return this.activate(vc, rng);
      return this.closeCall(vc);
    }
    const op = rng.weighted<() => Promise<void>>([
      { w: 3, v: () => this.reactivate(vc, rng) },
      { w: 2, v: () => this.modifyQos(vc, rng) },
      { w: 3, v: () => this.deactivate(vc) },
      { w: 3, v: () => this.closeCall(vc) },
      { w: 2, v: () => this.teardown(vc, rng) },
      { w: 4, v: async () => this.holdMode(vc, rng) },
      { w: 4, v: () => sleep(rng.int(10, 200)) },
    ]);
    return op();
  }

  private expect(st: NdisStatus, what: string, vc: SoakVc): boolean {
    if (st === NDIS_STATUS_SUCCESS) return true;
    this.flag('request', `${what} on VC ${vc.index} failed: ${statusName(st)}`, vc.index);
    return false;
  }

  private async createVc(vc: SoakVc): Promise<void> {
    const r = this.ndis.coCreateVc(this.client.binding, this.client.af, vc);
    this.ops.createVc++;
    if (!this.expect(r.status, 'NdisCoCreateVc', vc) || !r.vcHandle) throw new Timeout('create');
    vc.handle = r.vcHandle;
    vc.call = 'idle';
    vc.active = false;
    vc.mismatchReported = false;
    vc.stuckReported = false;
    this.bySlot.set(this.ndis.vcInfo(r.vcHandle)!.slot, vc);
  }

  private async makeCall(vc: SoakVc, rng: Random): Promise<void> {
    const { sdu, params } = this.params(rng, vc);
    vc.call = 'making';
    this.ops.makeCall++;
    const st = await this.timed(this.ndis.clMakeCallAsync(vc.handle!, params), 'NdisClMakeCall', vc);
    if (st === NDIS_STATUS_SUCCESS) {
      vc.call = 'connected';
      vc.active = true;
      vc.maxSdu = sdu;
      return;
    }
    vc.call = 'idle';
    this.expect(st, 'NdisClMakeCall', vc);
    // A failed make call leaves a VC the client must delete (E22).
    await this.deleteVc(vc);
  }

  private async reactivate(vc: SoakVc, rng: Random): Promise<void> {
    const { sdu, params } = this.params(rng, vc);
    this.ops.reactivate++;
    const st = await this.timed(this.cm.activate(vc.handle!, params), 'NdisCmActivateVc (re-activation)', vc);
    if (this.expect(st, 'NdisCmActivateVc (re-activation)', vc)) vc.maxSdu = sdu;
  }

  private async modifyQos(vc: SoakVc, rng: Random): Promise<void> {
    const { sdu, params } = this.params(rng, vc);
    this.ops.modifyQos++;
    const st = await this.timed(
      this.ndis.clModifyCallQoSAsync(vc.handle!, params),
      'NdisClModifyCallQoS',
      vc,
    );
    if (this.expect(st, 'NdisClModifyCallQoS', vc)) vc.maxSdu = sdu;
  }

  private async activate(vc: SoakVc, rng: Random): Promise<void> {
    const { sdu, params } = this.params(rng, vc);
    this.ops.activate++;
    const st = await this.timed(this.cm.activate(vc.handle!, params), 'NdisCmActivateVc', vc);
    if (this.expect(st, 'NdisCmActivateVc', vc)) {
      vc.active = true;
      vc.maxSdu = sdu;
    }
  }

  /** NdisCmDeactivateVc without a close (spec §3.4 c): the call stays, the VC is inactive after. */
  private async deactivate(vc: SoakVc): Promise<void> {
    this.ops.deactivate++;
    const d = this.cm.deactivate(vc.handle!);
    await this.timed(d.done, 'NdisCmDeactivateVc', vc);
  }

  /** NdisClCloseCall: the call manager deactivates (the drain) and completes the close after it. */
  private async closeCall(vc: SoakVc): Promise<void> {
    this.ops.closeCall++;
    // A client closes a call only once its sends on it have completed (E31).
    vc.quiet = true;
    let st: NdisStatus;
    try {
      await this.waitFor(() => vc.outstanding === 0, "the client's sends before NdisClCloseCall", vc);
      vc.call = 'closing';
      st = await this.timed(this.ndis.clCloseCallAsync(vc.handle!), 'NdisClCloseCall', vc);
    } finally {
      vc.quiet = false;
    }
    if (st === NDIS_STATUS_SUCCESS) {
      vc.call = 'idle';
      vc.active = false;
      const info = this.ndis.vcInfo(vc.handle!);
      if (info?.activation !== 'INACTIVE')
        this.flag('request', `NdisClCloseCall completed SUCCESS with the VC ${info?.activation}`, vc.index);
      return;
    }
    // K13: a failed close leaves the call up; the VC is active again (its drain was aborted twice).
    vc.call = 'connected';
    if (vc.held > 0) this.client.returnHeld(null, 0, vc);
  }

  /** Network-initiated close (spec §3.3): incoming close, deactivation at once, the client's close. */
  private async teardown(vc: SoakVc, rng: Random): Promise<void> {
    this.ops.teardown++;
    const d = this.cm.teardown(vc.handle!);
    // The client answers with NdisClCloseCall: sometimes while the drain is still going.
    if (rng.chance(0.5)) await this.timed(d.done, 'NdisCmDeactivateVc (teardown)', vc);
    else await sleep(rng.int(0, 5));
    await this.closeCall(vc);
    await this.timed(d.done, 'NdisCmDeactivateVc (teardown)', vc);
  }

  private async deleteVc(vc: SoakVc): Promise<void> {
    // Refused probes of the VC complete in microtasks: wait for them, never delete under them.
    await this.settle(() => vc.outstanding === 0 && vc.held === 0, 1000);
    if (vc.outstanding !== 0 || vc.held !== 0) {
      this.flag(
        'leak',
        `VC ${vc.index} closed with ${vc.outstanding} send(s) out and ${vc.held} receive(s) held`,
        vc.index,
      );
      throw new Timeout('delete');
    }
    this.ops.deleteVc++;
    const h = vc.handle!;
    const slot = this.ndis.vcInfo(h)?.slot;
    const st = this.ndis.coDeleteVc(h);
    if (!this.expect(st, 'NdisCoDeleteVc', vc)) throw new Timeout('delete');
    if (slot !== undefined) this.bySlot.delete(slot);
    vc.handle = null;
    vc.call = 'idle';
    vc.active = false;
  }

  private holdMode(vc: SoakVc, rng: Random): void {
    this.ops.holdMode++;
    vc.holdMode = rng.weighted([
      { w: 5, v: HoldMode.ReturnAtOnce },
      { w: 3, v: HoldMode.HoldSome },
      { w: 2, v: HoldMode.HoldAll },
    ]);
  }

  /** Gives held receives back at random, in lists mixing VCs; pauses now and then. */
  private async returner(rng: Random): Promise<void> {
    while (!this.actorsDone) {
      if (this.stopping) {
        // Winding down: the actors' last drains wait for nothing the client holds.
        this.client.returnHeld(null, Number.POSITIVE_INFINITY);
        await sleep(2);
        continue;
      }
      if (rng.chance(0.005)) {
        this.ops.returnerPause++;
        // Mostly short; one pause in ten outlasts the deadline (the drain must then be aborted).
        const ms = rng.chance(0.1)
          ? rng.int(Math.round(this.deadlineMs * 1.1), Math.round(this.deadlineMs * 1.5))
          : rng.int(20, 300);
        await this.sleepUnlessStopping(ms);
        continue;
      }
      this.client.returnHeld(rng, rng.int(1, 64));
      await sleep(rng.int(1, 20));
    }
  }

  /** Stops the peer now and then (on a TAP also destroys and re-opens it). */
  private async peerActor(rng: Random): Promise<void> {
    const peer = this.bed.peer;
    while (!this.stopping) {
      await this.sleepUnlessStopping(rng.int(100, 1500));
      if (this.stopping) break;
      const long = rng.chance(0.1);
      const ms = long
        ? rng.int(Math.round(this.deadlineMs * 1.1), Math.round(this.deadlineMs * 1.5))
        : rng.int(5, 300);
      if (this.backend === 'tap' && rng.chance(0.3)) {
        this.ops.peerRestart++;
        peer.stop();
        await peer.restart(ms);
      } else {
        this.ops.peerStop++;
        peer.stop();
        await this.sleepUnlessStopping(ms);
      }
      peer.resume();
      this.lastPeerResumeAt = performance.now();
    }
    peer.resume();
  }

  private async sleepUnlessStopping(ms: number): Promise<void> {
    const until = performance.now() + ms;
    while (!this.stopping && performance.now() < until) await sleep(Math.min(50, until - performance.now()));
  }

  // -----------------------------------------------------------------------------------------------
  // The end

  /** After the churn: every receive returned, every send completed, every VC closed and deleted. */
  private async wind(): Promise<void> {
    this.bed.peer.resume();
    this.lastPeerResumeAt = performance.now();
    // The peer keeps taking frames (its interrupts run) but sends nothing more.
    this.client.returnHeld(null, Number.POSITIVE_INFINITY);
    for (const vc of this.client.vcs) vc.holdMode = HoldMode.ReturnAtOnce;
    const vcs = this.client.vcs;
    await this.settle(() => vcs.every((v) => v.outstanding === 0), 5000);
    for (const vc of vcs) {
      if (vc.outstanding !== 0)
        this.flag(
          'send-never-completed',
          `VC ${vc.index}: ${vc.outstanding} send(s) never completed`,
          vc.index,
        );
    }
    for (const vc of vcs) {
      if (vc.wedged || vc.handle === null) continue;
      try {
        for (let tries = 0; vc.call !== 'idle' && tries < 3; tries++) {
          this.client.returnHeld(null, 0, vc);
          await this.closeCall(vc);
        }
        if (vc.call === 'idle') await this.deleteVc(vc);
      } catch (e) {
        if (!(e instanceof Timeout))
          this.flag('request', `VC ${vc.index} at the end: ${(e as Error).message}`, vc.index);
      }
    }
    await this.settle(() => false, 50);
    this.client.crossCheck();
    const left = vcs.filter((v) => v.handle !== null).length;
    if (left > 0) this.flag('leak', `${left} VC(s) could not be closed and deleted at the end`);
    if (this.client.held.length > 0)
      this.flag('leak', `${this.client.held.length} receive(s) still held at the end`);
    if (this.ndis.vcCount !== 0) this.flag('leak', `NDIS still has ${this.ndis.vcCount} VC(s) at the end`);
    const pools = this.adapter.poolCounts();
    if (pools.free !== pools.capacity)
      this.flag(
        'leak',
        `${pools.capacity - pools.free} of the miniport's ${pools.capacity} buffers are not back at the end`,
      );
  }

  /** Waits until `cond()` holds or `ms` passed, one macrotask at a time (device interrupts run). */
  private async settle(cond: () => boolean, ms: number): Promise<void> {
    const until = performance.now() + ms;
    while (!cond() && performance.now() < until) await sleep(2);
  }

  private async tearDown(): Promise<void> {
    this.stopping = true;
    if (this.pumpHandle) clearImmediate(this.pumpHandle);
    this.pumpHandle = null;
    try {
      if (this.client) {
        await this.ndis.clCloseAddressFamilyAsync(this.client.af);
        this.ndis.closeAdapter(this.client.binding);
      }
    } catch (e) {
      this.flag('leak', `closing the client: ${(e as Error).message}`);
    }
    try {
      if (this.adapter) await this.adapter.halt();
      else this.bed.ours.destroy();
    } catch (e) {
      this.flag('leak', `MiniportHaltEx: ${(e as Error).message}`);
      this.bed.ours.destroy();
    }
    this.bed.peer.close();
  }

  /** A sample once the device threads have gone (they exit as their devices close). */
  private async settledSample(before: ProcessSample): Promise<ProcessSample> {
    const until = performance.now() + 2000;
    let s = sampleProcess();
    while ((s.threads > before.threads || s.fds > before.fds) && performance.now() < until) {
      await sleep(20);
      s = sampleProcess(false);
    }
    return sampleProcess();
  }

  private report(process: SoakReport['process']): SoakReport {
    const secs = Math.max(this.churnSeconds, 1e-3);
    const rate = (n: number) => Math.round((n / secs) * 10) / 10;
    const ops = Object.fromEntries(
      SOAK_OPS.map((k) => [k, { count: this.ops[k], perSecond: rate(this.ops[k]) }]),
    ) as SoakReport['ops'];
    const vcs = this.client?.vcs ?? [];
    const given = vcs.reduce((n, v) => n + v.given, 0);
    const completed = vcs.reduce((n, v) => n + v.completed, 0);
    const indicated = vcs.reduce((n, v) => n + v.indicated, 0);
    const indicatedResources = vcs.reduce((n, v) => n + v.indicatedResources, 0);
    const p = this.deactTimes.percentiles(1e-6);
    const d = this.drainTimes.percentiles(1e-6);
    const ms = (v: number) => (Number.isNaN(v) ? 0 : Math.round(v * 1000) / 1000);
    const peer = this.bed.peer.totals();
    return {
      backend: this.backend,
      note: this.bed.note,
      seed: this.seed,
      vcs: this.nvcs,
      queueSize: this.queueSize,
      deadlineMs: this.deadlineMs,
      seconds: Math.round(this.churnSeconds * 10) / 10,
      interrupted: this.interrupted,
      ops,
      sends: { given, completed, perSecond: rate(completed), byStatus: this.client?.statusTable() ?? {} },
      receives: {
        indicated,
        indicatedResources,
        returned: this.client?.returned ?? 0,
        perSecond: rate(indicated + indicatedResources),
      },
      peer: { sent: peer.sent, received: peer.received, restarts: this.bed.peer.restarts },
      deactivations: {
        count: this.deactCount,
        pended: this.deactPended,
        succeeded: this.deactSucceeded,
        aborted: this.deactAborted,
        refused: this.deactRefused,
        p50Ms: ms(p.p50),
        p99Ms: ms(p.p99),
        worstMs: ms(p.max),
        drainedP99Ms: ms(d.p99),
        drainedWorstMs: ms(d.max),
      },
      process,
      violations: this.violations,
      violationCount: this.violationCount,
      violationsByCheck: this.byCheck,
      passed: this.violationCount === 0,
    };
  }
}
