/**
 * What a node reports on stdout, one JSON object a line (issue 14): `ready` once its control socket
 * listens, then call events as they happen, and `stopped` last. The `event` field names each.
 * A call is named by `call`, the node's own number for it (1, 2, ...; never reused while it runs).
 */
export type CallDirection = 'out' | 'in';

/** One event of a node (stdout of `condis node`, or the onEvent of CondisNode.open/onDevice). */
export type NodeEvent =
  | {
      event: 'ready';
      tap: string;
      mac: string;
      sap: number;
      ip: string;
      control: string;
      pid: number;
    }
  /** A peer's SETUP reached our SAP and the client accepted it (the VC is active). */
  | { event: 'incomingCall'; call: number; vid: number; peer: string; sap: number }
  /** The call is up: make-call completed (out), or CONNECT ACK came (in). */
  | { event: 'callConnected'; call: number; vid: number; peer: string; dir: CallDirection }
  /** An outgoing call that did not connect: `cause` is the NDIS_STATUS its make-call completed with. */
  | { event: 'callFailed'; call: number; vid: number; peer: string; cause: string }
  /**
   * The call is closed and its VC drained. `by`: 'local' (our close: RELEASE, RELEASE COMPLETE,
   * drain) or 'peer' (the peer's RELEASE, or the signalling timers: then `cause` is not SUCCESS).
   */
  | {
      event: 'callClosed';
      call: number;
      vid: number;
      peer: string;
      dir: CallDirection;
      by: 'local' | 'peer';
      cause: string;
    }
  | { event: 'stopped'; tap: string; calls: number; signal: string | null; verifierViolations: number };
