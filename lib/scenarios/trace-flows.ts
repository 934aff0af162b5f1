/**
 * The VC flows `condis trace` draws, as a library: `runTraceFlow(flow)` runs one on the wire
 * backend with a real MiniportAdapter (or a minimal MCM) under an Ndis that records its trace,
 * and returns the trace of the flow's part of spec §3 as a typed report; lib/cli/trace.ts renders
 * it (Mermaid or JSON). Layer: a scenario over the whole stack (device, NDIS, miniport, the PVC
 * call manager), like the soak. Each flow sets the VC up, clears the trace, then runs only the
 * part that spec §3 draws, so the recorded sequence is that diagram:
 * - client-close   §3.2: NdisClCloseCall with one receive held, so the deactivation pends in the
 *                  miniport until the client returns it;
 * - incoming-close §3.3: the call manager dispatches an incoming close (PvcCallManager.teardown),
 *                  the client closes and returns what it held;
 * - mcm-deactivate §3.4 (a): an MCM tears the call down itself: it stops the VC on its NIC,
 *                  NdisMCmDeactivateVc, NdisMCmDispatchIncomingCloseCall, then completes the
 *                  client's close with NdisMCmCloseCallComplete;
 * - reactivate     §3.5 (a): NdisClModifyCallQoS; the call manager re-activates the VC with the
 *                  new parameters, no deactivation in between.
 * The MCM here is the smallest one that can play §3.4 (no data path): lib has no MCM yet.
 * Every wait is for the event itself (a receive indicated, the client's close), with a deadline.
 */
import type { Device } from '../device/device';
import { openWirePair } from '../device/open';
import { FramePort } from '../device/port';
import { condisCallParameters } from '../medium/params';
import { MiniportAdapter } from '../miniport/adapter';
import type { ClientHandlers, NdisMiniportHandle, NdisVcHandle } from '../ndis/actors';
import { chainNbls, type NetBufferList } from '../ndis/nbl';
import { Ndis } from '../ndis/ndis';
import { NDIS_STATUS_PENDING, NDIS_STATUS_SUCCESS, type NdisStatus, statusName } from '../ndis/status';
import type { Trace } from '../ndis/trace';
import { AF_CONDIS_PVC, PvcCallManager } from '../vc/pvc-call-manager';

export const FLOWS = ['client-close', 'incoming-close', 'mcm-deactivate', 'reactivate'] as const;
export type Flow = (typeof FLOWS)[number];

const VID = 42;
const AF_TRACE_MCM = 0xc0d3;
/** How long a flow waits for any one event before it fails. */
const STEP_TIMEOUT_MS = 5000;

/** A CoNDIS client that can hold the receives it gets (to make a drain pend) and close later. */
class FlowClient {
  readonly binding;
  readonly af;
  vc!: NdisVcHandle;
  readonly held: NetBufferList[] = [];
  onIncomingClose: (() => void) | null = null;
  /** Resolves the wait of `whenHeld`, from the receive indication that reaches its count. */
  private heldWaiter: { count: number; resolve: () => void } | null = null;

  constructor(
    readonly ndis: Ndis,
    miniport: NdisMiniportHandle,
    af: number,
  ) {
    const proto = ndis.registerProtocol('client', {
      coSendNetBufferListsComplete: () => {},
      coReceiveNetBufferLists: (_b, _v, nbls) => {
        for (let p: NetBufferList | null = nbls; p; p = p.next) this.held.push(p);
        const w = this.heldWaiter;
        if (w && this.held.length >= w.count) {
          this.heldWaiter = null;
          w.resolve();
        }
      },
    });
    this.binding = ndis.openAdapter(proto, miniport, this);
    const handlers: ClientHandlers = { clIncomingCloseCall: () => this.onIncomingClose?.() };
    const r = ndis.clOpenAddressFamily(this.binding, af, handlers, this);
    if (!r.afHandle) throw new Error(`open address family: ${statusName(r.status)}`);
    this.af = r.afHandle;
  }

  async connect(): Promise<void> {
    const r = this.ndis.coCreateVc(this.binding, this.af, this);
    if (!r.vcHandle) throw new Error(`NdisCoCreateVc: ${statusName(r.status)}`);
    this.vc = r.vcHandle;
    const st = await this.ndis.clMakeCallAsync(this.vc, condisCallParameters(VID));
    if (st !== NDIS_STATUS_SUCCESS) throw new Error(`NdisClMakeCall: ${statusName(st)}`);
  }

  /** Resolves once the client holds `count` receives. */
  whenHeld(count: number): Promise<void> {
    if (this.held.length >= count) return Promise.resolve();
    return new Promise((resolve) => (this.heldWaiter = { count, resolve }));
  }

  returnHeld(): void {
    const head = chainNbls(this.held);
    this.held.length = 0;
    if (head) this.ndis.returnNetBufferLists(this.binding, head, 0);
  }
}

/** `event`, or a rejection naming `what` once STEP_TIMEOUT_MS have passed without it. */
function withDeadline<T>(event: Promise<T>, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out waiting for ${what}`)), STEP_TIMEOUT_MS);
  });
  return Promise.race([event, deadline]).finally(() => clearTimeout(timer));
}

export interface TraceFlowReport {
  flow: Flow;
  /** The client's VC slot (to keep the diagram to the VC). */
  vcSlot: number | undefined;
  /** What NDIS recorded of the flow's part of spec §3: calls, handlers, completions, states. */
  trace: Trace;
}

/** Runs `flow` (see the header) and returns the trace of its part of spec §3. */
export async function runTraceFlow(flow: Flow): Promise<TraceFlowReport> {
  const { ndis, vcSlot } = await runFlow(flow);
  if (!ndis.trace) throw new Error('the trace was not recorded');
  return { flow, vcSlot, trace: ndis.trace };
}

interface FlowResult {
  ndis: Ndis;
  vcSlot: number | undefined;
}

async function runFlow(flow: Flow): Promise<FlowResult> {
  const [a, b] = openWirePair({ queuePairs: 2, queueSize: 64 });
  try {
    const ndis = new Ndis({ verifier: 'throw', trace: true });
    if (flow === 'mcm-deactivate') return await mcmDeactivate(ndis, a);
    const adapter = new MiniportAdapter(ndis, a, { name: 'miniport' });
    const cm = new PvcCallManager(ndis, adapter.handle, 'call-manager');
    const client = new FlowClient(ndis, adapter.handle, AF_CONDIS_PVC);
    // The far end: a port on the VC's VID that sends one frame for the client to hold.
    b.bindPair(1, VID);
    const far = new FramePort(b, 1);
    b.onInterrupt = () => far.poll();
    far.postRx();
    await client.connect();
    const vcSlot = ndis.vcInfo(client.vc)?.slot;
    const holdOne = async () => {
      const f = new Uint8Array(64);
      f.set([0x02, 0, 0, 0, 0, 1, 0x02, 0, 0, 0, 0, 2, 0x88, 0xb5]);
      const held = client.whenHeld(1);
      far.send(f);
      far.flush();
      await withDeadline(held, 'a receive to hold');
    };
    if (flow === 'client-close') {
      await holdOne();
      ndis.trace?.clear();
      const closing = ndis.clCloseCallAsync(client.vc);
      setImmediate(() => client.returnHeld());
      const st = await closing;
      if (st !== NDIS_STATUS_SUCCESS) throw new Error(`close: ${statusName(st)}`);
    } else if (flow === 'incoming-close') {
      await holdOne();
      // Settles with the client's close, once it has closed in answer to the incoming close.
      const closed = new Promise<NdisStatus>((resolve) => {
        client.onIncomingClose = () => {
          // Not from inside the indication: the call manager deactivates right after dispatching.
          setImmediate(() => {
            resolve(ndis.clCloseCallAsync(client.vc));
            setImmediate(() => client.returnHeld());
          });
        };
      });
      ndis.trace?.clear();
      const td = cm.teardown(client.vc);
      await td.done;
      const st = await withDeadline(closed, 'the client to close');
      if (st !== NDIS_STATUS_SUCCESS) throw new Error(`close: ${statusName(st)}`);
    } else {
      ndis.trace?.clear();
      const st = await ndis.clModifyCallQoSAsync(client.vc, condisCallParameters(VID, { maxSduSize: 1000 }));
      if (st !== NDIS_STATUS_SUCCESS) throw new Error(`modify QoS: ${statusName(st)}`);
    }
    return { ndis, vcSlot };
  } finally {
    a.destroy();
    b.destroy();
  }
}

/**
 * §3.4 (a) with a minimal MCM: one driver that is the miniport (its NIC is the wire device: it
 * binds the VID to pair 1 while the VC is active) and the call manager of AF_TRACE_MCM.
 */
async function mcmDeactivate(ndis: Ndis, nic: Device): Promise<FlowResult> {
  let vc: NdisVcHandle | null = null;
  const mcm = ndis.registerMcm('mcm', {
    // No data path in this flow: nothing is sent or indicated.
    coSendNetBufferLists: (_ctx, nbls) => ndis.mCoSendNetBufferListsComplete(vc!, nbls, 0),
    returnNetBufferLists: () => {},
  });
  const st = ndis.mCmRegisterAddressFamily(mcm, AF_TRACE_MCM, {
    coCreateVc: (_af, h) => {
      vc = h;
      return { status: NDIS_STATUS_SUCCESS, context: 'mcm-vc' };
    },
    coDeleteVc: () => NDIS_STATUS_SUCCESS,
    cmOpenAf: () => NDIS_STATUS_SUCCESS,
    cmCloseAf: () => NDIS_STATUS_SUCCESS,
    cmRegisterSap: () => NDIS_STATUS_SUCCESS,
    cmDeregisterSap: () => NDIS_STATUS_SUCCESS,
    cmMakeCall: (_ctx, params) => {
      // "Dial", program the NIC, report the activation, complete the call: all later.
      setImmediate(() => {
        nic.bindPair(1, VID);
        const a = ndis.mCmActivateVc(vc!, params);
        ndis.mCmMakeCallComplete(a, vc!, undefined, undefined, params);
      });
      return NDIS_STATUS_PENDING;
    },
    cmCloseCall: () => {
      // The VC is already inactive (the MCM deactivated it): finish the teardown later.
      setImmediate(() => ndis.mCmCloseCallComplete(NDIS_STATUS_SUCCESS, vc!));
      return NDIS_STATUS_PENDING;
    },
  });
  if (st !== NDIS_STATUS_SUCCESS) throw new Error(`NdisMCmRegisterAddressFamilyEx: ${statusName(st)}`);
  const client = new FlowClient(ndis, mcm, AF_TRACE_MCM);
  const closed = new Promise<NdisStatus>((resolve) => {
    client.onIncomingClose = () => {
      setImmediate(() => resolve(ndis.clCloseCallAsync(client.vc)));
    };
  });
  await client.connect();
  const vcSlot = ndis.vcInfo(client.vc)?.slot;
  ndis.trace?.clear();
  // The network hung up: stop the VC on the NIC (nothing of the client's is held), deactivate,
  // then tell the client.
  ndis.trace?.record({
    kind: 'note',
    from: 'MCM',
    to: 'MCM',
    name: 'remote hang-up: stop the VC on the NIC',
  });
  nic.unbindPair(1);
  const d = ndis.mCmDeactivateVc(vc!);
  if (d !== NDIS_STATUS_SUCCESS) throw new Error(`NdisMCmDeactivateVc: ${statusName(d)}`);
  ndis.mCmDispatchIncomingCloseCall(NDIS_STATUS_SUCCESS, vc!);
  const cst = await withDeadline(closed, 'the client to close');
  if (cst !== NDIS_STATUS_SUCCESS) throw new Error(`close: ${statusName(cst)}`);
  return { ndis, vcSlot };
}
