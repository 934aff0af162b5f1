/**
 * The reference CoNDIS miniport over a condis-tap Device (lib/miniport): exports only.
 * Reading order: adapter.ts (the facade: handlers, interrupts, events; the layers are drawn at
 * its top), control.ts (VC lifecycle), drain.ts (how a drain ends), send.ts and receive.ts (data
 * path), interrupt.ts, state.ts (what the adapter owns), vc.ts (contexts). The medium's call
 * parameters (condisCallParameters, vidOf, ...) live in lib/medium/params.ts and are re-exported
 * here unchanged.
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
export { kMiniportOffloadFeatures, offloadFromFeatures } from './offload';
export { txStatusToNdis } from './send';
export { MiniportVc, ReceiveNetBufferList, VcCounters, VcState, vcStateName } from './vc';
