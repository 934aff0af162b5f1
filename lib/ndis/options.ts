/**
 * What a user passes to `new Ndis(...)` (NdisOptions, with the data-path watch hook) and what
 * `Ndis.vcInfo` returns. Types only; ndis.ts re-exports them, core.ts reads the observer.
 */

import type { CondisError } from '../errors';
import type { NdisVcHandle } from './actors';
import type { CoCallParameters } from './call-parameters';
import type { Clock } from './clock';
import type { NetBufferList } from './nbl';
import type { Scheduler } from './scheduler';
import type { ActivationState, CallState, SendPolicy } from './vc-states';
import type { VerifierMode } from './verifier';

/** Options of `new Ndis(options)`: time, scheduling, verifier, send policy, drain deadline, trace. */
export interface NdisOptions {
  /** Time source for trace stamps and the deactivation deadline (default: systemClock). */
  clock?: Clock;
  /** Where completions run (default: one microtask per batch). */
  scheduler?: Scheduler;
  /** Verifier mode (default 'throw'). */
  verifier?: VerifierMode;
  /** Called with every contract break the verifier records. */
  onViolation?: (e: CondisError) => void;
  /**
   * Spec §4.3 (default 'strict-core'): NDIS refuses sends on a VC that is not ready, before the
   * miniport sees them. 'pass-through' forwards every send (except during a reset); the miniport
   * must then apply the §4.3 table itself.
   */
  sendPolicy?: SendPolicy;
  /**
   * Milliseconds a pended deactivation may wait for the drain before NDIS calls the miniport's
   * `coAbortVc` hook and fails it with NDIS_STATUS_REQUEST_ABORTED (code ERR_CONDIS_DRAIN_TIMEOUT).
   * Off (undefined or 0) by default: a drain waits as long as the miniport takes.
   */
  deactivationDeadlineMs?: number;
  /** Record a trace (default true), or its capacity in events. */
  trace?: boolean | number;
  /** Watch the data path (a pcap capture): called once per send and per indication call. */
  observer?: NdisDataPathObserver;
}

/** A watch-only hook on the data path (what an NDIS lightweight filter that only monitors sees). */
export interface NdisDataPathObserver {
  /** Each chain a protocol passes to NdisCoSendNetBufferLists, before the runtime checks it. */
  onSend?(vcHandle: NdisVcHandle, nbls: NetBufferList): void;
  /** Each chain a miniport passes to NdisMCoIndicateReceiveNetBufferLists, before delivery. */
  onIndicate?(vcHandle: NdisVcHandle, nbls: NetBufferList): void;
}

/** What `vcInfo` reports about a VC. */
export interface VcInfo {
  readonly slot: number;
  readonly activation: ActivationState;
  readonly call: CallState;
  readonly txInMiniport: number;
  readonly rxHeld: number;
  readonly stopping: boolean;
  readonly creator: 'client' | 'cm';
  readonly mcm: boolean;
  readonly signalling: boolean;
  readonly callParameters: CoCallParameters | undefined;
  readonly activationPending: boolean;
  readonly deactivationPending: boolean;
}
