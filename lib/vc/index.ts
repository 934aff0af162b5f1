/**
 * The plain Node surface over a condis-tap VC (lib/vc): exports only. VcChannel is a tiny CoNDIS
 * client; PvcCallManager the signalling-free call manager it calls through.
 */
export { AbortError } from './abort';
export {
  pvcCallManagerFor,
  VcChannel,
  type VcChannelEvents,
  type VcChannelMiniport,
  type VcChannelOptions,
  type VcChannelStreamOptions,
} from './channel';
export { AF_CONDIS_PVC, PvcCallManager, PvcVc } from './pvc-call-manager';
