/**
 * `condis node` (layer: the CLI): without a subcommand word, runs a node (lib/node) until SIGINT,
 * SIGTERM or a `shutdown` request, printing its events as JSON lines on stdout (the first one
 * `ready`, the last one `stopped`); with one (call, ping, close, hold, calls, trace, status, shutdown), sends
 * that request to a running node's control socket and prints the reply JSON (exit 0 if ok, 1 if
 * not).
 */

import { ControlServer } from '../node/control';
import { controlRequest } from '../node/control-client';
import type { NodeEvent } from '../node/events';
import { CondisNode } from '../node/node';
import { CONTROL_DIR, resolveNodeOptions } from '../node/options';
import { warmUp } from '../scenarios/warm-up';
import { intFlag, UsageError, type Values } from './usage';

export const NODE_REQUESTS = [
  'call',
  'ping',
  'close',
  'hold',
  'calls',
  'trace',
  'mark',
  'status',
  'shutdown',
] as const;

function emit(e: NodeEvent | Record<string, unknown>): void {
  process.stdout.write(`${JSON.stringify(e)}\n`);
}

const text = (v: string | boolean | undefined): string | undefined => (typeof v === 'string' ? v : undefined);

/** Every integer option, checked before anything else (a bad one is a usage error either way). */
function ints(values: Values) {
  return {
    sap: values.sap === undefined ? undefined : intFlag('sap', values.sap, 1, 1, 0xffffffff),
    queuePairs:
      values['queue-pairs'] === undefined
        ? undefined
        : intFlag('queue-pairs', values['queue-pairs'], 16, 2, 64),
    keepaliveMs:
      values['keepalive-ms'] === undefined
        ? undefined
        : intFlag('keepalive-ms', values['keepalive-ms'], 1000, 0, 3_600_000),
    keepaliveMisses:
      values['keepalive-misses'] === undefined
        ? undefined
        : intFlag('keepalive-misses', values['keepalive-misses'], 3, 1, 100),
    vid: values.vid === undefined ? undefined : intFlag('vid', values.vid, 0, 1, 4094),
    call: values.call === undefined ? undefined : intFlag('call', values.call, 0, 1, Number.MAX_SAFE_INTEGER),
    count: intFlag('count', values.count, 3, 1, 10000),
    since:
      values.since === undefined ? undefined : intFlag('since', values.since, 0, 0, Number.MAX_SAFE_INTEGER),
  };
}

export async function nodeCommand(values: Values, positionals: string[]): Promise<number> {
  const n = ints(values);
  if (positionals.length > 1) throw new UsageError(`one request at a time, got "${positionals.join(' ')}"`);
  const word = positionals[0];
  if (word !== undefined) return request(word, values, n);
  const tap = text(values.tap);
  if (tap === undefined) throw new UsageError('--tap NAME is required to run a node');
  const opts = resolveNodeOptions({
    tap,
    ...(values.mac !== undefined ? { mac: text(values.mac)! } : {}),
    ...(n.sap !== undefined ? { sap: n.sap } : {}),
    ...(values.ip !== undefined ? { ip: text(values.ip)! } : {}),
    ...(values.control !== undefined ? { control: text(values.control)! } : {}),
    ...(n.queuePairs !== undefined ? { queuePairs: n.queuePairs } : {}),
    ...(n.keepaliveMs !== undefined ? { keepaliveMs: n.keepaliveMs } : {}),
    ...(n.keepaliveMisses !== undefined ? { keepaliveMisses: n.keepaliveMisses } : {}),
    ...(values.trace === true ? { trace: true } : {}),
  });
  // Before the TAP exists: the warm-up runs on private wire pairs and touches nothing of the host.
  if (values['warm-up'] === true) await warmUp();
  const node = await CondisNode.open(opts, emit);
  let signal: string | null = null;
  let stopNow: () => void = () => {};
  const stopped = new Promise<void>((r) => (stopNow = r));
  let server: ControlServer;
  try {
    server = await ControlServer.listen(opts.control, node, () => stopNow());
  } catch (e) {
    await node.stop();
    throw e;
  }
  const onSignal = (s: NodeJS.Signals) => {
    signal = s;
    stopNow();
  };
  // Faults go to stderr, one JSON line each; a lost TAP or a failed device also stops the node
  // (exit 1): every frame would fail from now on.
  let failed = false;
  const fault = (kind: string, fatal: boolean) => (e: { code?: string; message: string }) => {
    process.stderr.write(`${JSON.stringify({ error: kind, code: e.code, message: e.message })}\n`);
    if (fatal) {
      failed = true;
      stopNow();
    }
  };
  node.adapter.on('vcAbort', fault('vcAbort', false));
  node.device.on('ringError', fault('ringError', false));
  node.device.on('backendLost', fault('backendLost', true));
  node.device.on('deviceFailed', fault('deviceFailed', true));
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  emit({
    event: 'ready',
    tap: opts.tap,
    mac: opts.macText,
    sap: opts.sap,
    ip: opts.ipText,
    control: opts.control,
    pid: process.pid,
  });
  await stopped;
  // Close calls first (their RELEASE needs the stack), then the socket: requests during the stop
  // still get answers (a close racing the shutdown finds its call closing).
  const calls = node.client.calls.size;
  await node.stop();
  await server.close();
  process.off('SIGINT', onSignal);
  process.off('SIGTERM', onSignal);
  emit({
    event: 'stopped',
    tap: opts.tap,
    calls,
    signal,
    verifierViolations: node.ndis.verifier.violations.length,
  });
  return failed ? 1 : 0;
}

/** `condis node <request> --control PATH ...`: one request, its reply printed. */
async function request(word: string, values: Values, n: ReturnType<typeof ints>): Promise<number> {
  if (!(NODE_REQUESTS as readonly string[]).includes(word))
    throw new UsageError(`unknown request "${word}" (known: ${NODE_REQUESTS.join(', ')})`);
  const control = text(values.control);
  if (control === undefined) {
    const tap = text(values.tap);
    if (tap === undefined) throw new UsageError(`${word}: --control PATH (or --tap NAME) is required`);
  }
  const path = control ?? `${CONTROL_DIR}/${text(values.tap)}.sock`;
  const req: Record<string, unknown> = { cmd: word };
  if (word === 'call') {
    const peer = text(values.peer);
    if (peer === undefined) throw new UsageError('call: --peer MAC is required');
    req.peer = peer;
    if (n.sap !== undefined) req.sap = n.sap;
    if (n.vid !== undefined) req.vid = n.vid;
  }
  if (word === 'ping' || word === 'close' || word === 'hold') {
    if (n.call === undefined) throw new UsageError(`${word}: --call N is required`);
    req.call = n.call;
  }
  if (word === 'ping') {
    req.count = n.count;
    if (values['peer-ip'] !== undefined) req.ip = text(values['peer-ip']);
  }
  if (word === 'trace' && n.since !== undefined) req.since = n.since;
  if (word === 'mark') {
    const t = text(values.text);
    if (t === undefined || t === '')
      throw new UsageError('mark: --text TEXT is required (1 to 200 characters)');
    req.text = t;
  }
  const reply = await controlRequest(path, req);
  process.stdout.write(`${JSON.stringify(reply)}\n`);
  return reply.ok ? 0 : 1;
}
