/**
 * The condis-tap medium's call parameters: what a VC on it takes from its CO_CALL_PARAMETERS.
 *
 * Layer: just above lib/ndis (it reads NDIS's CO_CALL_PARAMETERS, lib/ndis/call-parameters.ts),
 * below everyone who speaks of a condis-tap VC: the miniport that honours these parameters
 * (lib/miniport), the call managers that signal them (lib/cm, lib/vc), the clients and scenarios
 * that ask for them (lib/client, lib/host, lib/scenarios, lib/cli). It describes the medium (the
 * VID a VC is carried on, the frame size a ring buffer allows), not the miniport, so it sits in a
 * room of its own: a call manager or client imports it without importing a driver.
 *
 * CO_CALL_PARAMETERS has no VC-id field, so the VID travels where NDIS puts medium-specific data:
 * `mediaParameters.specific` (CO_MEDIA_PARAMETERS.MediaSpecific) holds a `CondisMediaSpecific`
 * `{ vid }`. The VID is the VC id on the wire (802.1Q, 1..4094): the VC gets a queue pair 1..N-1
 * bound to it (tag inserted on transmit, stripped on receive). Without it an activation fails
 * with NDIS_STATUS_INVALID_DATA (the prescribed code for parameters the miniport cannot use).
 *
 * VID 0 (UNTAGGED_VID) means "queue pair 0, untagged": the VC carries the device's untagged
 * traffic (802.1Q reserves VID 0 for priority-tagged frames, which the device also steers to pair
 * 0, untagged, so no VLAN can be called 0). There is one pair 0, hence at most one such VC at a
 * time; a second activation on VID 0 fails like any VID already carried (INVALID_DATA). A
 * miniport whose pair 0 belongs to someone else (an MCM's signalling channel,
 * MiniportAdapterOptions.untaggedPair false) refuses VID 0 with INVALID_DATA too.
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
} from '../ndis/call-parameters';

/** CO_MEDIA_PARAMETERS.MediaSpecific of a condis-tap VC. */
export interface CondisMediaSpecific {
  /** 802.1Q VLAN id = VC id, 1..4094; or 0 (UNTAGGED_VID): queue pair 0, untagged. */
  vid: number;
}

/** The tagged VC ids (a queue pair 1..N-1 bound to the VID). */
export const MIN_VID = 1;
/** The largest tagged VC id (802.1Q reserves 4095). */
export const MAX_VID = 4094;
/** The VID that names queue pair 0, untagged (see the top of this file). */
export const UNTAGGED_VID = 0;

/** The VID of a parameter set (UNTAGGED_VID or MIN_VID..MAX_VID), or undefined when absent or out of range. */
export function vidOf(params: CoCallParameters | undefined): number | undefined {
  const specific = params?.mediaParameters?.specific as Partial<CondisMediaSpecific> | undefined;
  const vid = specific?.vid;
  return typeof vid === 'number' && Number.isInteger(vid) && vid >= UNTAGGED_VID && vid <= MAX_VID
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

/**
 * A fresh parameter set for a condis-tap VC on `vid` (every activation era needs a new one, E50);
 * `condisCallParameters(UNTAGGED_VID)` asks for queue pair 0, untagged.
 */
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
