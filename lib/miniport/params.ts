/**
 * What a condis-tap VC takes from its CO_CALL_PARAMETERS.
 *
 * CO_CALL_PARAMETERS has no VC-id field, so the VID travels where NDIS puts medium-specific data:
 * `mediaParameters.specific` (CO_MEDIA_PARAMETERS.MediaSpecific) holds a `CondisMediaSpecific`
 * `{ vid }`. The VID is the VC id on the wire (802.1Q, 1..4094). Without it an activation fails
 * with NDIS_STATUS_INVALID_DATA (the prescribed code for parameters the miniport cannot use).
 *
 * Flow parameters: only `callMgrParameters.transmit.maxSduSize` is honoured (the largest frame a
 * send may carry, bounded by a ring buffer). With ROUND_DOWN_FLOW a larger value is rounded down
 * to what the ring can carry and written back into the caller's object (E15); without it, it is
 * INVALID_DATA. Token rates are accepted and ignored (a TAP has no shaper here).
 */
import {
  type CoCallParameters,
  type CoFlowParameters,
  makeCallParameters,
  RECEIVE_VC,
  ROUND_DOWN_FLOW,
  TRANSMIT_VC,
} from '../ndis';

/** CO_MEDIA_PARAMETERS.MediaSpecific of a condis-tap VC. */
export interface CondisMediaSpecific {
  /** 802.1Q VLAN id = VC id, 1..4094. */
  vid: number;
}

export const MIN_VID = 1;
export const MAX_VID = 4094;

/** The VID of a parameter set, or undefined when absent or out of range. */
export function vidOf(params: CoCallParameters | undefined): number | undefined {
  const specific = params?.mediaParameters?.specific as Partial<CondisMediaSpecific> | undefined;
  const vid = specific?.vid;
  return typeof vid === 'number' && Number.isInteger(vid) && vid >= MIN_VID && vid <= MAX_VID
    ? vid
    : undefined;
}

/**
 * The largest frame sends on the VC may carry, given `capacity` (buffer bytes after the
 * virtio_net_hdr); writes a rounded value back under ROUND_DOWN_FLOW; -1 if unacceptable.
 * Validates only: `commit` false leaves the caller's object untouched (a failing activation
 * must not change anything).
 */
export function maxFrameOf(params: CoCallParameters, capacity: number, commit: boolean): number {
  const tx = params.callMgrParameters?.transmit;
  const want = tx?.maxSduSize ?? 0;
  if (!(want > 0)) return capacity;
  if (want <= capacity) return want;
  if (((params.mediaParameters?.flags ?? 0) & ROUND_DOWN_FLOW) === 0) return -1;
  if (commit) (tx as CoFlowParameters).maxSduSize = capacity;
  return capacity;
}

/** A fresh parameter set for a condis-tap VC on `vid` (every activation era needs a new one, E50). */
export function condisCallParameters(
  vid: number,
  opts: { maxSduSize?: number; mediaFlags?: number; flags?: number } = {},
): CoCallParameters {
  const flow = (maxSduSize: number): CoFlowParameters => ({ tokenRate: 0, peakBandwidth: 0, maxSduSize });
  return makeCallParameters({
    flags: opts.flags ?? 0,
    callMgrParameters: { transmit: flow(opts.maxSduSize ?? 0), receive: flow(opts.maxSduSize ?? 0) },
    mediaParameters: {
      flags: (opts.mediaFlags ?? 0) | TRANSMIT_VC | RECEIVE_VC,
      specific: { vid } satisfies CondisMediaSpecific,
    },
  });
}
