/**
 * VIDs of a node's outgoing calls (issue 14). A call's VC id is the 802.1Q VID its frames carry,
 * and several nodes share one L2 broadcast domain (a Linux bridge, and across hosts its VXLAN
 * port), so the choice matters:
 * - on one node a VID carries at most one call: the caller picks one none of its calls uses, and
 *   the callee's call manager refuses a SETUP whose VID it already carries (RELEASE COMPLETE,
 *   cause 34 NO_CIRCUIT_AVAILABLE, NDIS_STATUS_VC_NOT_AVAILABLE); the caller then tries the next
 *   VID (NodeClient.call, up to MAX_VID_TRIES);
 * - between different pairs of nodes a VID may repeat (no node sees the others' calls, and no
 *   registry is wanted): that is safe because a node takes on a call's VC only frames from that
 *   call's peer MAC to its own MAC or to broadcast (NodeClient's receive filter; the rest is
 *   counted as foreignFrames), and the bridge floods a pair's frames to other ports only until it
 *   has learnt the MACs, or for broadcast;
 * - to make that rare, the search starts at a hash of the (caller, callee) MACs, so different pairs
 *   start far apart, and the same pair's calls land on predictable VIDs (readable in a capture).
 * VID 1 is skipped: it is a Linux bridge's default PVID once VLAN filtering is on (untagged
 * traffic would share it); 0 and 4095 are not VIDs (0 is the untagged signalling pair).
 */
export const FIRST_CALL_VID = 2;
export const LAST_CALL_VID = 4094;
/** VIDs a call tries before it gives up (each refusal by the callee costs one SETUP). */
export const MAX_VID_TRIES = 8;

const SPAN = LAST_CALL_VID - FIRST_CALL_VID + 1;

/** Where the search for a VID between `caller` and `callee` starts. */
export function vidStart(caller: Uint8Array, callee: Uint8Array): number {
  let h = 0x811c9dc5;
  for (const b of [...caller, ...callee]) h = Math.imul(h ^ b, 0x01000193) >>> 0;
  return FIRST_CALL_VID + (h % SPAN);
}

/** The first VID from `start` on (wrapping) for which `free` holds, or undefined if none does. */
export function nextVid(start: number, free: (vid: number) => boolean): number | undefined {
  for (let i = 0; i < SPAN; i++) {
    const vid = FIRST_CALL_VID + ((start - FIRST_CALL_VID + i) % SPAN);
    if (free(vid)) return vid;
  }
  return undefined;
}
