/**
 * `condis node`'s options and their defaults (issue 14): the TAP's name, the node's MAC, the SAP
 * it listens on, its IPv4 address inside its calls, where its control socket lives, and how many
 * queue pairs its device has.
 *
 * Defaults, and why:
 * - mac: 02:cd:<4 bytes of a hash of the TAP name>: locally administered, unicast, the same on
 *   every start of the same node (a restarted node keeps its address), different per TAP name;
 * - ip: 10.<mac[3]>.<mac[4]>.<1 + mac[5] % 254>/24, derived from the MAC for the same reasons; it
 *   only has to differ from the peers' (a VC is point to point: no subnet routing happens);
 * - sap: 1;
 * - control: /run/condis/<tap>.sock;
 * - queuePairs: 16: pair 0 carries signalling (the stand-alone CM's signalling VC on VID 0), so a
 *   node holds at most queuePairs - 1 = 15 calls at once; the limit is the device's pairs (each
 *   call's VC is bound to a pair of its own), up to 64;
 * - keepaliveMs 1000, keepaliveMisses 3: the call manager's liveness check of a connected call
 *   (lib/cm/call-control.ts): a dead or cut-off peer's calls are cleared within 4 s, and a cut
 *   shorter than 3 s never clears one;
 * - trace false: a node runs for days; the trace (bounded, see NODE_TRACE_CAPACITY in node.ts)
 *   costs a record per NDIS call and per send and receive, which only a person watching needs.
 */

import { formatIpv4Address, parseIpv4Address } from '../client/ipv4';
import { macToString } from '../cm/signalling';
import { checkIfName, parseMac } from '../device/options';
import { CondisError } from '../errors';
import { kMaxQueuePairs } from '../virtio/layout';

export const DEFAULT_SAP = 1;
export const DEFAULT_QUEUE_PAIRS = 16;
export const CONTROL_DIR = '/run/condis';
export const DEFAULT_KEEPALIVE_MS = 1000;
export const DEFAULT_KEEPALIVE_MISSES = 3;

/** What a node is given (`condis node`'s options); resolveNodeOptions fills the defaults. */
export interface NodeOptions {
  tap: string;
  mac?: string;
  sap?: number;
  /** A.B.C.D/24 (the prefix is informative: the node answers for A.B.C.D). */
  ip?: string;
  control?: string;
  queuePairs?: number;
  /** STATUS ENQUIRY interval on a connected call, ms (0: no liveness check). */
  keepaliveMs?: number;
  /** Unanswered enquiries after which a call is cleared. */
  keepaliveMisses?: number;
  /** Record the NDIS trace (the control socket's `trace` reads it); default false. */
  trace?: boolean;
}

/** A node's options with every default filled in and every address parsed (resolveNodeOptions). */
export interface ResolvedNodeOptions {
  tap: string;
  mac: Uint8Array;
  macText: string;
  sap: number;
  ip: Uint8Array;
  /** A.B.C.D/24 as printed in the ready event. */
  ipText: string;
  control: string;
  queuePairs: number;
  keepaliveMs: number;
  keepaliveMisses: number;
  trace: boolean;
}

const bad = (m: string) => new CondisError('ERR_CONDIS_INVALID_ARG', `condis node: ${m}`);

/** FNV-1a of a string: a stable 32-bit hash (the default MAC). */
function fnv1a(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h >>> 0;
}

/** The default MAC of the node on TAP `tap`. */
export function defaultMac(tap: string): Uint8Array {
  const h = fnv1a(tap);
  return Uint8Array.from([0x02, 0xcd, h >>> 24, (h >>> 16) & 0xff, (h >>> 8) & 0xff, h & 0xff]);
}

/** The default IPv4 address of a node with MAC `mac`. */
export function defaultIp(mac: Uint8Array): Uint8Array {
  return Uint8Array.from([10, mac[3]!, mac[4]!, 1 + (mac[5]! % 254)]);
}

/**
 * Checks a node's options and fills the defaults (MAC and IPv4 address from the TAP's name, SAP
 * 1, 16 queue pairs, the control socket under /run/condis); a bad one is ERR_CONDIS_INVALID_ARG.
 */
export function resolveNodeOptions(o: NodeOptions): ResolvedNodeOptions {
  try {
    checkIfName(o.tap);
  } catch (e) {
    throw bad(`--tap: ${(e as Error).message}`);
  }
  let mac: Uint8Array;
  try {
    mac = o.mac === undefined ? defaultMac(o.tap) : parseMac(o.mac);
  } catch (e) {
    throw bad(`--mac: ${(e as Error).message}`);
  }
  const sap = o.sap ?? DEFAULT_SAP;
  if (!Number.isInteger(sap) || sap < 1 || sap > 0xffffffff)
    throw bad(`--sap must be a whole number from 1 to 4294967295, got ${sap}`);
  let ip: Uint8Array;
  if (o.ip === undefined) ip = defaultIp(mac);
  else {
    const m = /^([0-9.]+)(?:\/(\d+))?$/.exec(o.ip);
    if (!m || (m[2] !== undefined && m[2] !== '24'))
      throw bad(`--ip must look like 10.0.0.1/24, got "${o.ip}"`);
    try {
      ip = parseIpv4Address(m[1]!);
    } catch (e) {
      throw bad(`--ip: ${(e as Error).message}`);
    }
  }
  const queuePairs = o.queuePairs ?? DEFAULT_QUEUE_PAIRS;
  if (!Number.isInteger(queuePairs) || queuePairs < 2 || queuePairs > kMaxQueuePairs)
    throw bad(`--queue-pairs must be from 2 to ${kMaxQueuePairs} (pair 0 is signalling), got ${queuePairs}`);
  const keepaliveMs = o.keepaliveMs ?? DEFAULT_KEEPALIVE_MS;
  if (!Number.isInteger(keepaliveMs) || keepaliveMs < 0 || keepaliveMs > 3_600_000)
    throw bad(`--keepalive-ms must be from 0 to 3600000, got ${keepaliveMs}`);
  const keepaliveMisses = o.keepaliveMisses ?? DEFAULT_KEEPALIVE_MISSES;
  if (!Number.isInteger(keepaliveMisses) || keepaliveMisses < 1 || keepaliveMisses > 100)
    throw bad(`--keepalive-misses must be from 1 to 100, got ${keepaliveMisses}`);
  return {
    tap: o.tap,
    mac,
    macText: macToString(mac),
    sap,
    ip,
    ipText: `${formatIpv4Address(ip)}/24`,
    control: o.control ?? `${CONTROL_DIR}/${o.tap}.sock`,
    queuePairs,
    keepaliveMs,
    keepaliveMisses,
    trace: o.trace ?? false,
  };
}
