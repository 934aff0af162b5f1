/**
 * The wire-signalling call manager (lib/cm): exports only. Reading order: signalling.ts (the wire
 * format), call.ts (a call's states), call-control.ts (the engine and the NDIS handlers),
 * call-manager.ts (stand-alone CM) and signalling-vc.ts (its signalling VC), mcm.ts (the MCM)
 * and channel.ts (pair 0 driven directly).
 */
export { CallState, CmVc } from './call';
export {
  AF_CONDIS_SVC,
  CallControl,
  type CallControlOptions,
  CmAf,
  CmSap,
  type CondisCallSpecific,
  SignallingStats,
} from './call-control';
export { CondisCallManager, type CondisCallManagerOptions } from './call-manager';
export { type InterruptSharing, PortSignallingChannel, type SignallingChannel } from './channel';
export { CondisMcm, type CondisMcmOptions, McmVc } from './mcm';
export * from './signalling';
export { SIGNALLING_VID, SignallingVc, signallingCallParameters } from './signalling-vc';
