// The package root's public surface (lib/index.ts, what `import ... from 'condis-tap'` gives):
// (a) the exact list of its names, so an accidental removal (or an accidental addition) fails
// here, not in a user's build; (b) every exported class, function, interface, type and constant
// carries a doc comment, read through the TypeScript compiler API as an editor's hover would.
import * as path from 'node:path';
import ts from 'typescript';
import { describe, expect, it } from 'vitest';
import * as root from '../../lib';

const ROOT = path.resolve(__dirname, '../..');

/** Names that are values at run time (classes, functions, constants, the two namespaces). */
const VALUES = [
  'NdisBridge',
  'carryOffloadInfo',
  'kMiniportOffloadFeatures',
  'offloadFromFeatures',
  'AbortError',
  'AF_CONDIS_PVC',
  'BROADCAST_VC',
  'CALL_PARAMETERS_CHANGED',
  'CondisError',
  'Device',
  'ErrorCodes',
  'FramePort',
  'FrameForwarder',
  'INDICATE_END_OF_TX',
  'INDICATE_ERRED_PACKETS',
  'MAX_VID',
  'MIN_VID',
  'MULTIPOINT_VC',
  'ManualClock',
  'ManualScheduler',
  'MiniportAdapter',
  'NDIS_RECEIVE_FLAGS_RESOURCES',
  'NDIS_RETURN_FLAGS_DISPATCH_LEVEL',
  'NDIS_SEND_COMPLETE_FLAGS_DISPATCH_LEVEL',
  'NDIS_STATUS',
  'NDIS_STATUS_CALL_ACTIVE',
  'NDIS_STATUS_CLOSED',
  'NDIS_STATUS_CLOSING',
  'NDIS_STATUS_CLOSING_INDICATING',
  'NDIS_STATUS_DEST_OUT_OF_ORDER',
  'NDIS_STATUS_FAILURE',
  'NDIS_STATUS_INCOMPATABLE_QOS',
  'NDIS_STATUS_INVALID_ADDRESS',
  'NDIS_STATUS_INVALID_DATA',
  'NDIS_STATUS_INVALID_LENGTH',
  'NDIS_STATUS_INVALID_PACKET',
  'NDIS_STATUS_INVALID_PARAMETER',
  'NDIS_STATUS_INVALID_SAP',
  'NDIS_STATUS_INVALID_STATE',
  'NDIS_STATUS_NOT_ACCEPTED',
  'NDIS_STATUS_NOT_SUPPORTED',
  'NDIS_STATUS_PAUSED',
  'NDIS_STATUS_PENDING',
  'NDIS_STATUS_REQUEST_ABORTED',
  'NDIS_STATUS_RESET_END',
  'NDIS_STATUS_RESET_IN_PROGRESS',
  'NDIS_STATUS_RESET_START',
  'NDIS_STATUS_RESOURCES',
  'NDIS_STATUS_SAP_IN_USE',
  'NDIS_STATUS_SEND_ABORTED',
  'NDIS_STATUS_SUCCESS',
  'NDIS_STATUS_VC_NOT_ACTIVATED',
  'NDIS_STATUS_VC_NOT_AVAILABLE',
  'Ndis',
  'NdisAfHandle',
  'NdisBindingHandle',
  'NdisMiniportHandle',
  'NdisProtocolHandle',
  'NdisSapHandle',
  'NetBuffer',
  'NetBufferList',
  'PERMANENT_VC',
  'PcapWriter',
  'PvcCallManager',
  'PvcVc',
  'QUERY_CALL_PARAMETERS',
  'RECEIVE_TIME_INDICATION',
  'RECEIVE_VC',
  'RESERVE_RESOURCES_VC',
  'ROUND_DOWN_FLOW',
  'ROUND_UP_FLOW',
  'RingNetBufferList',
  'TRANSMIT_VC',
  'Trace',
  'UNTAGGED_VID',
  'USE_TIME_STAMPS',
  'VcChannel',
  'Verifier',
  'chainNbls',
  'checkIfName',
  'condisCallParameters',
  'fromNative',
  'isSuccess',
  'makeCallParameters',
  'makeNbl',
  'maxFrameOf',
  'microtaskScheduler',
  'nblArray',
  'nblCount',
  'ndis',
  'openSharedTaps',
  'openSharedWirePairs',
  'openTap',
  'openWirePair',
  'parseMac',
  'pvcCallManagerFor',
  'resolveOptions',
  'ringErrorCode',
  'setThreadCpus',
  'statusName',
  'systemClock',
  'tapUnavailableReason',
  'vidOf',
  'virtio',
  'warmUp',
  'CondisNode',
  'ControlClient',
  'resolveNodeOptions',
  'runDemo',
  'DemoInterrupted',
  'demoPassed',
  'clusterUp',
  'clusterDown',
];

/** Names that exist only for TypeScript (interfaces and type aliases). */
const TYPES = [
  'ForwardCounters',
  'FrameForwarderOptions',
  'BridgeEndOptions',
  'NdisBridgeOptions',
  'WarmUpOptions',
  'WarmUpReport',
  'ActivationState',
  'AddressFamily',
  'Backend',
  'CallManagerHandlers',
  'CallState',
  'ClientHandlers',
  'Clock',
  'ErrorCode',
  'CoCallManagerParameters',
  'CoCallParameters',
  'CoFlowParameters',
  'CoMediaParameters',
  'CondisMediaSpecific',
  'ContextResult',
  'DeactivationRecord',
  'DeviceEvents',
  'DeviceOptions',
  'FrameSink',
  'MermaidOptions',
  'MiniportAdapterEvents',
  'MiniportAdapterOptions',
  'MiniportCoHandlers',
  'NativeDeviceOptions',
  'NativeInfo',
  'NativePairStats',
  'NativeStats',
  'NdisDataPathObserver',
  'NdisOptions',
  'NdisStatus',
  'NdisVcHandle',
  'Party',
  'PoolCounts',
  'ProtocolCoHandlers',
  'Scheduler',
  'SendPolicy',
  'TimerId',
  'TraceEvent',
  'TraceKind',
  'VcChannelEvents',
  'VcChannelMiniport',
  'VcChannelOptions',
  'VcChannelStreamOptions',
  'VcInfo',
  'VerifierMode',
  'CallRow',
  'EndedCall',
  'NodeEvent',
  'NodeOptions',
  'ResolvedNodeOptions',
  'DemoEvent',
  'DemoOptions',
  'DemoReport',
  'ClusterState',
  'HostState',
  'UpOptions',
  'DownOptions',
  'DownReport',
];

/**
 * Exports allowed to lack a doc comment, for now: each is defined in a file another helper of
 * issue 11 owns while this was written (lib/device/*, lib/errors.ts, lib/vc/*). The lead empties
 * this list after merging (and this test fails while an entry here has gained its comment, so the
 * list cannot go stale). Do not add to it: document the declaration instead.
 */
const UNDOCUMENTED_FOR_NOW: Record<string, string> = {};

interface ExportInfo {
  name: string;
  value: boolean;
  /** A namespace re-export (`export * as ndis`): documented member by member, not as a whole. */
  namespace: boolean;
  documented: boolean;
  file: string;
}

/** The root's exports as the TypeScript compiler resolves them (through every re-export). */
function rootExports(): ExportInfo[] {
  const cfg = ts.readConfigFile(path.join(ROOT, 'tsconfig.json'), ts.sys.readFile);
  const parsed = ts.parseJsonConfigFileContent(cfg.config, ts.sys, ROOT);
  const entry = path.join(ROOT, 'lib/index.ts');
  const program = ts.createProgram([entry], { ...parsed.options, noEmit: true });
  const checker = program.getTypeChecker();
  const source = program.getSourceFile(entry);
  if (!source) throw new Error('lib/index.ts not in the program');
  const mod = checker.getSymbolAtLocation(source);
  if (!mod) throw new Error('lib/index.ts is not a module');
  return checker.getExportsOfModule(mod).map((e) => {
    const s = e.flags & ts.SymbolFlags.Alias ? checker.getAliasedSymbol(e) : e;
    const decl = s.declarations?.[0];
    return {
      name: e.name,
      value: (s.flags & ts.SymbolFlags.Value) !== 0,
      namespace: decl !== undefined && ts.isSourceFile(decl),
      documented: ts.displayPartsToString(s.getDocumentationComment(checker)).trim() !== '',
      file: decl ? path.relative(ROOT, decl.getSourceFile().fileName) : '?',
    };
  });
}

const sorted = (a: Iterable<string>) => [...a].sort();

describe('the package root (lib/index.ts)', () => {
  const exports = rootExports();

  it('exports exactly the listed names, values and types', () => {
    expect(sorted(exports.filter((e) => e.value).map((e) => e.name))).toEqual(sorted(VALUES));
    expect(sorted(exports.filter((e) => !e.value).map((e) => e.name))).toEqual(sorted(TYPES));
  });

  it('has every listed value at run time (the compiled entry, not only the types)', () => {
    expect(sorted(Object.keys(root))).toEqual(sorted(VALUES));
  });

  it('keeps the ndis namespace, whose members are the flat names', () => {
    expect(root.ndis.Ndis).toBe(root.Ndis);
    expect(root.ndis.NDIS_STATUS_SUCCESS).toBe(root.NDIS_STATUS_SUCCESS);
    expect(root.ndis.NetBufferList).toBe(root.NetBufferList);
    expect(root.virtio.DriverQueue).toBeTypeOf('function');
  });

  it('documents every exported class, function, interface, type and constant', () => {
    const missing = exports
      .filter((e) => !e.namespace && !e.documented && !(e.name in UNDOCUMENTED_FOR_NOW))
      .map((e) => `${e.name} (${e.file})`);
    expect(missing, 'exports without a doc comment (/** ... */ on the declaration)').toEqual([]);
  });

  it('allows no undocumented export it does not need to', () => {
    const byName = new Map(exports.map((e) => [e.name, e]));
    const stale = Object.entries(UNDOCUMENTED_FOR_NOW)
      .filter(([name, file]) => byName.get(name)?.documented !== false || byName.get(name)?.file !== file)
      .map(([name]) => name);
    expect(stale, 'remove these from UNDOCUMENTED_FOR_NOW (documented now, moved, or gone)').toEqual([]);
  });
});
