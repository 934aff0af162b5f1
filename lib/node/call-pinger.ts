/**
 * `ping` over one of a node's calls: ICMP echo to the peer node's address, through the VC, one
 * request at a time (as ping(8) does by default), each answered or given up after `timeoutMs`.
 * First one ARP exchange for the peer's address (which the peer's gratuitous ARP told us,
 * client.ts), so the peer's responder is exercised too. RTTs are wall-clock, request handed to
 * NDIS to reply indicated, in microseconds: a user-facing figure, not a benchmark.
 */

import { formatIpv4Address } from '../client/ipv4';
import { arpRequestFrame, arpSender, echoReplySeq, echoRequestFrame } from '../client/requests';
import { sameMac } from '../cm/signalling';
import { CondisError } from '../errors';
import type { NodeCall, NodeClient } from './client';

export interface PingResult {
  sent: number;
  received: number;
  /** One per answered request, in order. */
  rttUs: number[];
  /** The address pinged. */
  target: string;
}

/** How long to wait for the peer's announcement, an ARP reply, an echo reply. */
const WAIT_MS = 1000;
let nextId = 1;

export async function pingOverCall(
  client: NodeClient,
  c: NodeCall,
  ownMac: Uint8Array,
  ownIp: Uint8Array,
  count: number,
  target?: Uint8Array,
  timeoutMs = WAIT_MS,
): Promise<PingResult> {
  if (!Number.isInteger(count) || count < 1 || count > 10_000)
    throw new CondisError('ERR_CONDIS_INVALID_ARG', `ping: count must be from 1 to 10000, got ${count}`);
  if (c.phase !== 'connected')
    throw new CondisError('ERR_CONDIS_INVALID_STATE', `ping: call ${c.id} is ${c.phase}, not connected`);
  if (!target && !(await c.until(() => c.peerIp !== null, timeoutMs)))
    throw new CondisError(
      'ERR_CONDIS_INVALID_STATE',
      `ping: call ${c.id}: the peer has not announced its address`,
    );
  const ip = Uint8Array.from(target ?? c.peerIp!);
  const id = (process.pid + nextId++) & 0xffff;
  let peerMac: Uint8Array | null = null;
  let lastSeq = -1;
  const rx = new Map<number, number>();
  const listener = (b: Uint8Array, off: number, len: number) => {
    const arp = arpSender(b, off, len, true);
    if (arp && sameMac(arp.ip, ip)) peerMac = arp.mac;
    const seq = echoReplySeq(b, off, len, id, ip);
    if (seq >= 0) rx.set(seq, performance.now());
  };
  c.listeners.add(listener);
  try {
    for (let i = 0; i < 3 && peerMac === null; i++) {
      if (!client.send(c, arpRequestFrame(ownMac, ownIp, ip))) break;
      await c.until(() => peerMac !== null || c.phase !== 'connected', timeoutMs);
    }
    if (peerMac === null)
      throw new CondisError(
        'ERR_CONDIS_INVALID_STATE',
        `ping: call ${c.id}: no ARP reply for ${formatIpv4Address(ip)}`,
      );
    const mac: Uint8Array = peerMac;
    const rttUs: number[] = [];
    let sent = 0;
    for (let i = 0; i < count; i++) {
      const seq = (i + 1) & 0xffff;
      lastSeq = seq;
      const t0 = performance.now();
      if (!client.send(c, echoRequestFrame(mac, ownMac, ownIp, ip, id, seq))) break;
      sent++;
      if (await c.until(() => rx.has(lastSeq) || c.phase !== 'connected', timeoutMs)) {
        const t1 = rx.get(lastSeq);
        if (t1 !== undefined) rttUs.push(Math.round((t1 - t0) * 1000));
      }
    }
    return { sent, received: rttUs.length, rttUs, target: formatIpv4Address(ip) };
  } finally {
    c.listeners.delete(listener);
  }
}
