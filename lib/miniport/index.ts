/**
 * The reference CoNDIS miniport over a condis-tap Device (lib/miniport): exports only.
 * Reading order: adapter.ts (the adapter, interrupts), control.ts (VC lifecycle, drain, abort),
 * send.ts and receive.ts (data path), vc.ts and pair.ts (contexts). The medium's call parameters
 * (condisCallParameters, vidOf, ...) live in lib/medium/params.ts and are re-exported here unchanged.
 */
export {
  type CondisMediaSpecific,
  condisCallParameters,
  MAX_VID,
  MIN_VID,
  maxFrameOf,
  UNTAGGED_VID,
  vidOf,
} from '../medium/params';
export {
  MiniportAdapter,
  type MiniportAdapterEvents,
  type MiniportAdapterOptions,
  type PoolCounts,
  RingNetBufferList,
} from './adapter';
export { ReceiveNetBufferList } from './pair';
export { txStatusToNdis } from './send';
export { MiniportVc, VcCounters, VcState, vcStateName } from './vc';
