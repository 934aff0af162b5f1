/**
 * condis-tap: exports only — the package root, the one import path a user needs
 * (`import { Ndis, openWirePair } from 'condis-tap'`). Reading order: README.md.
 *
 * Everything a user writing a miniport, a call manager, a client or raw-frame code needs is here,
 * flat, each name taken from the module that defines it (not from a folder's index.ts: one getter
 * per read through the CommonJS entry, not two). The `ndis` and `virtio` namespaces stay for
 * existing users (`ndis.NDIS_STATUS_SUCCESS`); the flat names are the same objects.
 * test/unit/public-api.test.ts holds the list of these names: removing one fails it.
 */
export {
  type BridgeEndOptions,
  carryOffloadInfo,
  NdisBridge,
  type NdisBridgeOptions,
} from './client/bridge';
export { clusterDown, type DownOptions, type DownReport } from './cluster/down';
export type { ClusterState, HostState } from './cluster/state';
export { clusterUp, type UpOptions } from './cluster/up';
export { setThreadCpus } from './device/affinity';
export { Device, type DeviceEvents } from './device/device';
export { type ForwardCounters, FrameForwarder, type FrameForwarderOptions } from './device/forwarder';
export {
  openSharedTaps,
  openSharedWirePairs,
  openTap,
  openWirePair,
  tapUnavailableReason,
} from './device/open';
export { type Backend, checkIfName, type DeviceOptions, parseMac, resolveOptions } from './device/options';
export { FramePort, type FrameSink } from './device/port';
export { CondisError, type ErrorCode, ErrorCodes, fromNative, ringErrorCode } from './errors';
export {
  type CondisMediaSpecific,
  condisCallParameters,
  MAX_VID,
  MIN_VID,
  maxFrameOf,
  UNTAGGED_VID,
  vidOf,
} from './medium/params';
export {
  MiniportAdapter,
  type MiniportAdapterEvents,
  type MiniportAdapterOptions,
  type PoolCounts,
  RingNetBufferList,
} from './miniport/adapter';
export { kMiniportOffloadFeatures, offloadFromFeatures } from './miniport/offload';
export type { NativeDeviceOptions, NativeInfo, NativePairStats, NativeStats } from './native';
export * as ndis from './ndis';
export {
  type AddressFamily,
  type CallManagerHandlers,
  type ClientHandlers,
  type ContextResult,
  type MiniportCoHandlers,
  NdisAfHandle,
  NdisBindingHandle,
  NdisMiniportHandle,
  NdisProtocolHandle,
  NdisSapHandle,
  type NdisVcHandle,
  type ProtocolCoHandlers,
} from './ndis/actors';
export {
  BROADCAST_VC,
  CALL_PARAMETERS_CHANGED,
  type CoCallManagerParameters,
  type CoCallParameters,
  type CoFlowParameters,
  type CoMediaParameters,
  INDICATE_END_OF_TX,
  INDICATE_ERRED_PACKETS,
  MULTIPOINT_VC,
  makeCallParameters,
  PERMANENT_VC,
  QUERY_CALL_PARAMETERS,
  RECEIVE_TIME_INDICATION,
  RECEIVE_VC,
  RESERVE_RESOURCES_VC,
  ROUND_DOWN_FLOW,
  ROUND_UP_FLOW,
  TRANSMIT_VC,
  USE_TIME_STAMPS,
} from './ndis/call-parameters';
export { type Clock, ManualClock, systemClock, type TimerId } from './ndis/clock';
export {
  chainNbls,
  makeNbl,
  NDIS_RECEIVE_FLAGS_RESOURCES,
  NDIS_RETURN_FLAGS_DISPATCH_LEVEL,
  NDIS_SEND_COMPLETE_FLAGS_DISPATCH_LEVEL,
  NetBuffer,
  NetBufferList,
  nblArray,
  nblCount,
} from './ndis/nbl';
export { Ndis } from './ndis/ndis';
export type { DeactivationRecord, NdisDataPathObserver, NdisOptions, VcInfo } from './ndis/options';
export { ManualScheduler, microtaskScheduler, type Scheduler } from './ndis/scheduler';
export {
  isSuccess,
  NDIS_STATUS,
  NDIS_STATUS_CALL_ACTIVE,
  NDIS_STATUS_CLOSED,
  NDIS_STATUS_CLOSING,
  NDIS_STATUS_CLOSING_INDICATING,
  NDIS_STATUS_DEST_OUT_OF_ORDER,
  NDIS_STATUS_FAILURE,
  NDIS_STATUS_INCOMPATABLE_QOS,
  NDIS_STATUS_INVALID_ADDRESS,
  NDIS_STATUS_INVALID_DATA,
  NDIS_STATUS_INVALID_LENGTH,
  NDIS_STATUS_INVALID_PACKET,
  NDIS_STATUS_INVALID_PARAMETER,
  NDIS_STATUS_INVALID_SAP,
  NDIS_STATUS_INVALID_STATE,
  NDIS_STATUS_NOT_ACCEPTED,
  NDIS_STATUS_NOT_SUPPORTED,
  NDIS_STATUS_PAUSED,
  NDIS_STATUS_PENDING,
  NDIS_STATUS_REQUEST_ABORTED,
  NDIS_STATUS_RESET_END,
  NDIS_STATUS_RESET_IN_PROGRESS,
  NDIS_STATUS_RESET_START,
  NDIS_STATUS_RESOURCES,
  NDIS_STATUS_SAP_IN_USE,
  NDIS_STATUS_SEND_ABORTED,
  NDIS_STATUS_SUCCESS,
  NDIS_STATUS_VC_NOT_ACTIVATED,
  NDIS_STATUS_VC_NOT_AVAILABLE,
  type NdisStatus,
  statusName,
} from './ndis/status';
export { type MermaidOptions, type Party, Trace, type TraceEvent, type TraceKind } from './ndis/trace';
export type { ActivationState, CallState, SendPolicy } from './ndis/vc-states';
export { Verifier, type VerifierMode } from './ndis/verifier';
export { ControlClient } from './node/control-client';
export type { NodeEvent } from './node/events';
export { type CallRow, CondisNode, type EndedCall } from './node/node';
export { type NodeOptions, type ResolvedNodeOptions, resolveNodeOptions } from './node/options';
export { PcapWriter } from './pcap/writer';
export {
  type DemoEvent,
  DemoInterrupted,
  type DemoOptions,
  type DemoReport,
  demoPassed,
  runDemo,
} from './scenarios/demo';
export { type WarmUpOptions, type WarmUpReport, warmUp } from './scenarios/warm-up';
export { AbortError } from './vc/abort';
export {
  pvcCallManagerFor,
  VcChannel,
  type VcChannelEvents,
  type VcChannelMiniport,
  type VcChannelOptions,
  type VcChannelStreamOptions,
} from './vc/channel';
export { AF_CONDIS_PVC, PvcCallManager, PvcVc } from './vc/pvc-call-manager';
export * as virtio from './virtio';
