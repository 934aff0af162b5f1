/**
 * The plain Node surface over a condis-tap VC (lib/vc): exports only. VcChannel is a tiny CoNDIS
 * client; PvcCallManager the signalling-free call manager it calls through.
 */
export { pvcCallManagerFor, VcChannel, type VcChannelOptions } from './channel';
export { AF_CONDIS_PVC, PvcCallManager, PvcVc } from './pvc-call-manager';
