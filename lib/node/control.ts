/**
 * The node's control socket (issue 14): a unix stream socket speaking JSON lines. Each request is
 * one JSON object with an "id" (echoed in its reply) and a "cmd"; each reply one line:
 *
 *   {"id":1,"cmd":"call","peer":"02:cd:..","sap":1}  -> {"id":1,"ok":true,"call":1,"vid":123,"setupMs":1.2}
 *   {"id":2,"cmd":"ping","call":1,"count":3}         -> {"id":2,"ok":true,"sent":3,"received":3,"rttUs":[..],"target":"10.."}
 *   {"id":3,"cmd":"close","call":1}                  -> {"id":3,"ok":true,"drainMs":0.8}
 *   {"id":4,"cmd":"calls"}                           -> {"id":4,"ok":true,"calls":[CallRow],"ended":[EndedCall]}
 *   {"id":7,"cmd":"hold","call":1}                   -> {"id":7,"ok":true,"call":1,"held":0}
 *   {"id":8,"cmd":"trace","since":0}                 -> {"id":8,"ok":true,"enabled":true,"events":[TraceEvent],"next":N,"dropped":0,"monotonicOffsetMs":T}
 *   {"id":9,"cmd":"mark","text":"step 2"}            -> {"id":9,"ok":true,"seq":N}: a note in the trace (a script's step header)
 *   {"id":5,"cmd":"status"}                          -> {"id":5,"ok":true, ...counters}
 *   {"id":6,"cmd":"shutdown"}                        -> {"id":6,"ok":true}, then the node stops
 *   failure                                          -> {"id":..,"ok":false,"code":"ERR_CONDIS_...","message":".."}
 *
 * Optional fields: call "vid" (1..4094; default: picked, lib/node/vid.ts), ping "ip" (default:
 * the address the peer announced on the VC), trace "max" (at most that many events; default all).
 * CallRow: {call, vid, peer, state, dir, peerIp, foreignFrames, held, slot}; EndedCall (node.ts):
 * {call, vid, peer, dir, by, cause, slot, frames: {sent, received}, deactivation: {sends,
 * receives, drainUs, status} | null}, the last 32 ended calls, oldest first. `trace` needs a node
 * started with --trace (else ERR_CONDIS_INVALID_ARG); a TraceEvent's `time` is the node's
 * performance.now() in ms. Requests on one connection are handled
 * concurrently; replies come when each finishes, so match them by id.
 */
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as path from 'node:path';
import { CondisError } from '../errors';
import type { CondisNode } from './node';

export type ControlRequest = { id?: unknown; cmd?: unknown } & Record<string, unknown>;
export type ControlReply = { id: unknown; ok: boolean } & Record<string, unknown>;

/** Runs one request against the node (a shutdown only answers here: the server then stops the node). */
export async function handleRequest(node: CondisNode, req: ControlRequest): Promise<Record<string, unknown>> {
  switch (req.cmd) {
    case 'call':
      return await node.call(req.peer, req.sap, req.vid);
    case 'ping':
      return { ...(await node.ping(req.call, req.count, req.ip)) };
    case 'close':
      return await node.close(req.call);
    case 'calls':
      return { calls: node.calls(), ended: node.ended.slice() };
    case 'hold':
      return node.hold(req.call);
    case 'trace':
      return { ...node.traceSince(req.since, req.max), monotonicOffsetMs: monotonicOffsetMs() };
    case 'mark':
      return node.mark(req.text);
    case 'status':
      return node.status();
    case 'shutdown':
      return {};
    default:
      throw new CondisError('ERR_CONDIS_INVALID_ARG', `unknown cmd ${JSON.stringify(req.cmd)}`, {
        cmd: req.cmd,
      });
  }
}

/**
 * What to add to a trace event's `time` (this process's performance.now(), ms) to get
 * CLOCK_MONOTONIC in ms: the same clock in every process of the machine, so two nodes' traces
 * merge in the order things ran (performance.timeOrigin is a wall-clock reading, which NTP moves).
 */
function monotonicOffsetMs(): number {
  return Number(process.hrtime.bigint()) / 1e6 - performance.now();
}

/** The reply line of a failure: the code of a CondisError (or an OS error's), else ERR_CONDIS_INTERNAL. */
export function failureReply(id: unknown, e: unknown): ControlReply {
  const code = (e as { code?: unknown })?.code;
  return {
    id,
    ok: false,
    code: typeof code === 'string' ? code : 'ERR_CONDIS_INTERNAL',
    message: e instanceof Error ? e.message : String(e),
    ...(e instanceof CondisError && e.details.status ? { status: e.details.status } : {}),
  };
}

/**
 * Makes `socketPath` usable: its directory created; a socket file left by a node that died is
 * removed, but one a live node answers on is not (ERR_CONDIS_INVALID_ARG).
 */
export async function prepareSocketPath(socketPath: string): Promise<void> {
  fs.mkdirSync(path.dirname(socketPath), { recursive: true });
  if (!fs.existsSync(socketPath)) return;
  const live = await new Promise<boolean>((resolve) => {
    const s = net.connect(socketPath);
    s.once('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => resolve(false));
  });
  if (live)
    throw new CondisError(
      'ERR_CONDIS_INVALID_ARG',
      `--control ${socketPath}: a node is already listening there`,
    );
  fs.unlinkSync(socketPath);
}

export class ControlServer {
  private readonly server: net.Server;
  private readonly sockets = new Set<net.Socket>();

  private constructor(
    readonly socketPath: string,
    server: net.Server,
  ) {
    this.server = server;
  }

  /** Listens on `socketPath` (see prepareSocketPath). `onShutdown` runs once a shutdown was answered. */
  static async listen(socketPath: string, node: CondisNode, onShutdown: () => void): Promise<ControlServer> {
    await prepareSocketPath(socketPath);
    const server = net.createServer();
    const cs = new ControlServer(socketPath, server);
    server.on('connection', (sock) => cs.serve(sock, node, onShutdown));
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(socketPath, () => {
        server.off('error', reject);
        resolve();
      });
    });
    // Only its owner (root in practice) may drive the node.
    fs.chmodSync(socketPath, 0o600);
    return cs;
  }

  private serve(sock: net.Socket, node: CondisNode, onShutdown: () => void): void {
    this.sockets.add(sock);
    sock.on('close', () => this.sockets.delete(sock));
    sock.on('error', () => {});
    let buf = '';
    sock.setEncoding('utf8');
    sock.on('data', (chunk: string) => {
      buf += chunk;
      for (let nl = buf.indexOf('\n'); nl >= 0; nl = buf.indexOf('\n')) {
        const line = buf.slice(0, nl).trim();
        buf = buf.slice(nl + 1);
        if (line.length > 0) void this.answer(sock, line, node, onShutdown);
      }
    });
  }

  private async answer(
    sock: net.Socket,
    line: string,
    node: CondisNode,
    onShutdown: () => void,
  ): Promise<void> {
    let req: ControlRequest;
    try {
      const v = JSON.parse(line) as unknown;
      if (typeof v !== 'object' || v === null || Array.isArray(v))
        throw new CondisError('ERR_CONDIS_INVALID_ARG', 'not an object');
      req = v as ControlRequest;
    } catch (e) {
      write(
        sock,
        failureReply(
          null,
          new CondisError('ERR_CONDIS_INVALID_ARG', `not a JSON object: ${(e as Error).message}`),
        ),
      );
      return;
    }
    let reply: ControlReply;
    try {
      reply = { id: req.id ?? null, ok: true, ...(await handleRequest(node, req)) };
    } catch (e) {
      reply = failureReply(req.id ?? null, e);
    }
    write(sock, reply);
    if (req.cmd === 'shutdown' && reply.ok) onShutdown();
  }

  /** Stops listening, ends every connection, removes the socket file. Idempotent. */
  async close(): Promise<void> {
    for (const s of this.sockets) s.end();
    await new Promise<void>((r) => this.server.close(() => r()));
    for (const s of this.sockets) s.destroy();
    fs.rmSync(this.socketPath, { force: true });
  }
}

function write(sock: net.Socket, reply: ControlReply): void {
  if (!sock.destroyed) sock.write(`${JSON.stringify(reply)}\n`);
}
