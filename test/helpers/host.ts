/**
 * The Linux host as a test peer: ip/tc for setup, AF_PACKET (through python3, which has it in its
 * standard library) to send and capture raw frames on an interface.
 */
import { execFileSync, spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { alive } from '../../lib/cluster/node-process';

export function sh(cmd: string, args: string[]): string {
  return execFileSync(cmd, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
}

export function shQuiet(cmd: string, args: string[]): void {
  try {
    execFileSync(cmd, args, { stdio: 'ignore' });
  } catch {
    // cleanup of something that may not exist
  }
}

/** Unique, short (<= 15 chars) interface names per test file run. */
export function ifName(prefix: string): string {
  return `${prefix}${process.pid % 10000}${Math.floor(Math.random() * 100)}`.slice(0, 15);
}

export function ifExists(name: string): boolean {
  return fs.existsSync(`/sys/class/net/${name}`);
}

/** openTap for a test that counts frames: down, IPv6 off, then up (lib/host/quiet-tap.ts). */
export { openQuietTap } from '../../lib/host/quiet-tap';
export { ifStat, mirred, quiet } from '../../lib/host/tc';

const PY = path.join(__dirname, 'afpacket.py');

/** Sends `count` copies of `frameHex` out of interface `ifname` through an AF_PACKET socket. */
export function packetSend(ifname: string, frameHex: string, count: number): void {
  sh('python3', [PY, 'send', ifname, frameHex, String(count)]);
}

/**
 * Sends one frame out of `ifname` with a 10-byte struct virtio_net_hdr (PACKET_VNET_HDR) in front,
 * so the kernel builds it as a GSO and/or CHECKSUM_PARTIAL packet, as a virtio guest's.
 */
export function packetSendVnet(ifname: string, vnetHdrHex: string, frameHex: string): void {
  sh('python3', [PY, 'send-vnet', ifname, vnetHdrHex, frameHex]);
}

/**
 * Starts capturing frames with ethertype `ethertype` on `ifname`; `done` settles with the frames (hex)
 * seen until then (or until `count` were seen).
 */
export function packetCapture(ifname: string, ethertype: number, count: number, timeoutMs = 5000) {
  const child = spawn('python3', [PY, 'recv', ifname, String(ethertype), String(count), String(timeoutMs)], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  let err = '';
  child.stdout.on('data', (d) => {
    out += d;
  });
  child.stderr.on('data', (d) => {
    err += d;
  });
  const ready = new Promise<void>((resolve, reject) => {
    const check = () => (err.includes('READY') ? resolve() : undefined);
    child.stderr.on('data', check);
    child.on('exit', (code) => (code !== 0 ? reject(new Error(`afpacket recv failed: ${err}`)) : resolve()));
  });
  const done = new Promise<string[]>((resolve, reject) => {
    child.on('exit', (code) => {
      if (code !== 0) reject(new Error(`afpacket recv exited ${code}: ${err}`));
      else resolve(out.split('\n').filter((l) => l.length > 0));
    });
  });
  return { ready, done };
}

/** Live processes whose command line mentions `text` (a cluster's directory is in its nodes'). */
export function processesMentioning(text: string): number[] {
  const pids: number[] = [];
  for (const d of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(d) || Number(d) === process.pid) continue;
    try {
      if (fs.readFileSync(`/proc/${d}/cmdline`, 'utf8').includes(text) && alive(Number(d)))
        pids.push(Number(d));
    } catch {
      // gone meanwhile
    }
  }
  return pids;
}
