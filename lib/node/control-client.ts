/**
 * The other end of a node's control socket (control.ts): one connection, requests numbered and
 * matched to their replies by id. `condis node call|ping|...` and the tests use it.
 */
import * as net from 'node:net';
import { CondisError } from '../errors';
import type { ControlReply } from './control';

/**
 * A connection to a running node's control socket (`condis node --control PATH`): `request`
 * sends one JSON request and resolves with its reply, ok or not (`{ok:false, code, message}`).
 *
 *   const c = await ControlClient.connect('/run/condis/tap0.sock');
 *   const { call } = await c.request({ cmd: 'call', peer: '02:cc:00:00:00:02' });
 */
export class ControlClient {
  private nextId = 1;
  private buf = '';
  private readonly pending = new Map<number, (r: ControlReply) => void>();
  private failure: Error | null = null;

  private constructor(private readonly sock: net.Socket) {
    sock.setEncoding('utf8');
    sock.on('data', (chunk: string) => {
      this.buf += chunk;
      for (let nl = this.buf.indexOf('\n'); nl >= 0; nl = this.buf.indexOf('\n')) {
        const line = this.buf.slice(0, nl);
        this.buf = this.buf.slice(nl + 1);
        const r = JSON.parse(line) as ControlReply;
        const w = this.pending.get(r.id as number);
        this.pending.delete(r.id as number);
        w?.(r);
      }
    });
    const fail = (e: Error) => {
      this.failure = e;
      for (const [id, w] of this.pending)
        w({ id, ok: false, code: 'ERR_CONDIS_CHANNEL_CLOSED', message: `control socket: ${e.message}` });
      this.pending.clear();
    };
    sock.on('error', fail);
    sock.on('close', () => fail(new CondisError('ERR_CONDIS_CHANNEL_CLOSED', 'closed by the node')));
  }

  /** Connects to the node's socket (rejects with the OS error, e.g. ENOENT, ECONNREFUSED). */
  static connect(socketPath: string): Promise<ControlClient> {
    return new Promise((resolve, reject) => {
      const s = net.connect(socketPath);
      s.once('connect', () => {
        s.off('error', reject);
        resolve(new ControlClient(s));
      });
      s.once('error', reject);
    });
  }

  /** Sends `req` (its id is set here) and resolves with the reply, ok or not. */
  request(req: Record<string, unknown>): Promise<ControlReply> {
    if (this.failure)
      return Promise.reject(
        new CondisError('ERR_CONDIS_CHANNEL_CLOSED', `control socket: ${this.failure.message}`),
      );
    const id = this.nextId++;
    return new Promise((resolve) => {
      this.pending.set(id, resolve);
      this.sock.write(`${JSON.stringify({ ...req, id })}\n`);
    });
  }

  close(): void {
    this.sock.end();
    this.sock.destroy();
  }
}

/** One request on a connection of its own. */
export async function controlRequest(
  socketPath: string,
  req: Record<string, unknown>,
): Promise<ControlReply> {
  const c = await ControlClient.connect(socketPath);
  try {
    return await c.request(req);
  } finally {
    c.close();
  }
}
