/**
 * Trace: every NDIS call, handler invocation, completion and state change, stamped with the
 * injected clock, exportable as JSON and as a Mermaid sequence diagram. Names are the NDIS names
 * (NdisCmDeactivateVc, MiniportCoDeactivateVc, ProtocolCmDeactivateVcComplete...) so that a
 * recorded client-initiated close draws the WDK's figure (spec §3.2) from what really ran.
 */
import type { Clock } from './clock';
import { type NdisStatus, statusName } from './status';

/** Participants, in the order the diagrams draw them. */
export type Party = 'Client' | 'NDIS' | 'CallManager' | 'Miniport' | 'MCM';
export const PARTIES: readonly Party[] = ['Client', 'NDIS', 'CallManager', 'Miniport', 'MCM'];
const LABEL: Record<Party, string> = {
  Client: 'Client',
  NDIS: 'NDIS',
  CallManager: 'Call manager',
  Miniport: 'Miniport',
  MCM: 'MCM',
};

/** What a trace event records. */
export type TraceKind =
  /** A driver calls an Ndis* function (synchronous request or void call). */
  | 'call'
  /** A driver calls an Ndis*Complete function (the asynchronous half of a request). */
  | 'complete-call'
  /** An Ndis* function returns a status to its caller. */
  | 'return'
  /** NDIS invokes a driver handler (MiniportXxx / ProtocolXxx). */
  | 'handler'
  /** A handler returns a status to NDIS. */
  | 'handler-return'
  /** NDIS invokes a completion handler in a later turn. */
  | 'deliver'
  /** A VC changed state. */
  | 'state'
  /** A verifier report or another remark. */
  | 'note';

/** One recorded event (JSON-serialisable): `seq`, clock `time`, who called whom, the NDIS name. */
export interface TraceEvent {
  readonly seq: number;
  /** Clock milliseconds (monotonic). */
  readonly time: number;
  readonly kind: TraceKind;
  readonly from: Party;
  readonly to: Party;
  /** The NDIS name of the function. */
  readonly name: string;
  /** VC slot number, when the event is about a VC. */
  readonly vc?: number;
  readonly status?: string;
  /** VC states after the event. */
  readonly activation?: string;
  readonly call?: string;
  readonly detail?: string;
}

/** What a part of the runtime records (Trace.record); the trace stamps it. */
export interface TraceInput {
  kind: TraceKind;
  from: Party;
  to: Party;
  name: string;
  vc?: number;
  status?: NdisStatus;
  activation?: string;
  call?: string;
  detail?: string;
}

/** Which events Trace.toMermaid draws. */
export interface MermaidOptions {
  /** Keep only events about this VC slot (and events about no VC). */
  vc?: number;
  /** Draw state notes (default true). */
  states?: boolean;
  /** Drop data-path events (sends, receives, returns); default false. */
  controlOnly?: boolean;
  /** Only these NDIS names. */
  filter?: (e: TraceEvent) => boolean;
}

const DATA_PATH = /NetBufferLists/;

/**
 * The runtime's record of what ran (`ndis.trace`): `events`, `toJSON()` and `toMermaid()` (a
 * sequence diagram with the NDIS names), bounded to `capacity` events.
 */
export class Trace {
  /** Ring buffer: `buf` holds at most `capacity` events, the oldest at `start`. */
  private buf: TraceEvent[] = [];
  private start = 0;
  private seq = 0;

  /** `capacity` bounds memory on long runs: the oldest events are dropped first. */
  constructor(
    private readonly clock: Clock,
    readonly capacity = 100_000,
  ) {}

  /** Appends one event, stamped with the clock (the runtime calls it). */
  record(e: TraceInput): void {
    const ev: TraceEvent = {
      seq: this.seq++,
      time: this.clock.now(),
      kind: e.kind,
      from: e.from,
      to: e.to,
      name: e.name,
      ...(e.vc !== undefined ? { vc: e.vc } : {}),
      ...(e.status !== undefined ? { status: statusName(e.status) } : {}),
      ...(e.activation !== undefined ? { activation: e.activation } : {}),
      ...(e.call !== undefined ? { call: e.call } : {}),
      ...(e.detail !== undefined ? { detail: e.detail } : {}),
    };
    if (this.buf.length < this.capacity) {
      this.buf.push(ev);
    } else {
      this.buf[this.start] = ev;
      this.start = (this.start + 1) % this.capacity;
    }
  }

  /** Events, oldest first. */
  get events(): readonly TraceEvent[] {
    return this.start === 0 ? this.buf : [...this.buf.slice(this.start), ...this.buf.slice(0, this.start)];
  }

  /** The newest event. */
  last(): TraceEvent | undefined {
    if (this.buf.length === 0) return undefined;
    return this.buf[(this.start + this.buf.length - 1) % this.buf.length];
  }

  /** Forgets every event (sequence numbers keep counting). */
  clear(): void {
    this.buf = [];
    this.start = 0;
  }

  /** The events, oldest first, as plain objects (JSON.stringify(ndis.trace) works). */
  toJSON(): TraceEvent[] {
    return this.events.slice();
  }

  /** The names of calls, handler invocations and deliveries, in order (handy in tests). */
  names(filter?: (e: TraceEvent) => boolean): string[] {
    return this.events
      .filter(
        (e) => e.kind !== 'state' && e.kind !== 'note' && e.kind !== 'return' && e.kind !== 'handler-return',
      )
      .filter((e) => !filter || filter(e))
      .map((e) => e.name);
  }

  /** A Mermaid sequence diagram of the events (`sequenceDiagram` text). */
  toMermaid(opts: MermaidOptions = {}): string {
    const showStates = opts.states ?? true;
    const events = this.events.filter(
      (e) =>
        (opts.vc === undefined || e.vc === undefined || e.vc === opts.vc) &&
        (!opts.controlOnly || !DATA_PATH.test(e.name)) &&
        (showStates || e.kind !== 'state') &&
        (!opts.filter || opts.filter(e)),
    );
    const used = new Set<Party>(['NDIS']);
    for (const e of events) {
      used.add(e.from);
      used.add(e.to);
    }
    const lines = ['sequenceDiagram'];
    for (const p of PARTIES) {
      if (used.has(p))
        lines.push(p === 'CallManager' ? '  participant CM as Call manager' : `  participant ${p}`);
    }
    const id = (p: Party) => (p === 'CallManager' ? 'CM' : LABEL[p]);
    for (const e of events) {
      const vc = e.vc !== undefined ? `vc${e.vc}` : '';
      const args = [vc, e.detail].filter(Boolean).join(', ');
      switch (e.kind) {
        case 'call':
        case 'handler':
          lines.push(`  ${id(e.from)}->>${id(e.to)}: ${e.name}(${args})`);
          break;
        case 'complete-call':
        case 'deliver':
          lines.push(
            `  ${id(e.from)}-)${id(e.to)}: ${e.name}(${[e.status, args].filter(Boolean).join(', ')})`,
          );
          break;
        case 'return':
        case 'handler-return':
          lines.push(`  ${id(e.from)}-->>${id(e.to)}: ${e.status ?? 'return'}`);
          break;
        case 'state':
          lines.push(`  Note over NDIS: ${vc} A=${e.activation} C=${e.call}`);
          break;
        case 'note':
          lines.push(`  Note over ${id(e.from)}: ${e.name}${e.detail ? ` ${e.detail}` : ''}`);
          break;
      }
    }
    return `${lines.join('\n')}\n`;
  }
}
