/** pcap capture of the frames a device moved (lib/pcap): exports only. */
export { PcapWriter } from './writer';
