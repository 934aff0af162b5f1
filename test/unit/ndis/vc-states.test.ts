import { describe, expect, it } from 'vitest';
import {
  ACTIVATION_STATES,
  ACTIVATION_TABLE,
  type ActivationEvent,
  type ActivationState,
  activationTransition,
  CALL_STATES,
  CALL_TABLE,
  callTransition,
  NDIS_STATUS_CLOSING,
  NDIS_STATUS_NOT_ACCEPTED,
  NDIS_STATUS_RESET_IN_PROGRESS,
  NDIS_STATUS_SUCCESS,
  NDIS_STATUS_VC_NOT_ACTIVATED,
  sendVerdict,
} from '../../../lib/ndis';

const ok = 'ok';
// Spec §2.3, rows NdisCmActivateVc, NdisCmDeactivateVc, NdisMCmDeactivateVc, NdisCoDeleteVc.
const refusals: Array<[ActivationEvent, Record<Exclude<ActivationState, 'DELETED'>, number | 'ok'>]> = [
  [
    'ACTIVATE',
    {
      INACTIVE: ok,
      ACTIVATING: NDIS_STATUS_NOT_ACCEPTED,
      ACTIVE: ok,
      REACTIVATING: NDIS_STATUS_NOT_ACCEPTED,
      DEACTIVATING: NDIS_STATUS_CLOSING,
    },
  ],
  [
    'MCM_ACTIVATE',
    {
      INACTIVE: ok,
      ACTIVATING: NDIS_STATUS_NOT_ACCEPTED,
      ACTIVE: ok,
      REACTIVATING: NDIS_STATUS_NOT_ACCEPTED,
      DEACTIVATING: NDIS_STATUS_CLOSING,
    },
  ],
  [
    'DEACTIVATE',
    {
      INACTIVE: NDIS_STATUS_NOT_ACCEPTED,
      ACTIVATING: NDIS_STATUS_NOT_ACCEPTED,
      ACTIVE: ok,
      REACTIVATING: NDIS_STATUS_NOT_ACCEPTED,
      DEACTIVATING: NDIS_STATUS_CLOSING,
    },
  ],
  [
    'MCM_DEACTIVATE',
    {
      INACTIVE: NDIS_STATUS_NOT_ACCEPTED,
      ACTIVATING: NDIS_STATUS_NOT_ACCEPTED,
      ACTIVE: ok,
      REACTIVATING: NDIS_STATUS_NOT_ACCEPTED,
      DEACTIVATING: NDIS_STATUS_CLOSING,
    },
  ],
  [
    'DELETE',
    {
      INACTIVE: ok,
      ACTIVATING: NDIS_STATUS_NOT_ACCEPTED,
      ACTIVE: NDIS_STATUS_NOT_ACCEPTED,
      REACTIVATING: NDIS_STATUS_NOT_ACCEPTED,
      DEACTIVATING: NDIS_STATUS_CLOSING,
    },
  ],
];

describe('activation table (spec §2.2/§2.3)', () => {
  it.each(refusals)('%s refusals', (event, row) => {
    for (const [state, want] of Object.entries(row)) {
      const out = activationTransition(state as ActivationState, event);
      expect(out, `${event} in ${state}`).toBeDefined();
      if (want === ok) expect(out!.refuse, `${event} in ${state}`).toBeUndefined();
      else expect(out!.refuse, `${event} in ${state}`).toBe(want);
    }
  });

  it('transitions of §2.2', () => {
    expect(activationTransition('INACTIVE', 'ACTIVATE')).toEqual({
      next: 'ACTIVATING',
      effects: ['callMiniportActivate'],
    });
    expect(activationTransition('ACTIVE', 'ACTIVATE')!.next).toBe('REACTIVATING'); // A6
    expect(activationTransition('REACTIVATING', 'ACTIVATE_FAIL')!.next).toBe('ACTIVE'); // A8
    expect(activationTransition('ACTIVATING', 'ACTIVATE_FAIL')!.next).toBe('INACTIVE'); // A5
    expect(activationTransition('ACTIVE', 'DEACTIVATE')).toEqual({
      next: 'DEACTIVATING',
      effects: ['stopSends', 'callMiniportDeactivate'],
    }); // A9
    expect(activationTransition('DEACTIVATING', 'DEACTIVATE_OK')!.next).toBe('INACTIVE'); // A10
    expect(activationTransition('DEACTIVATING', 'DEACTIVATE_FAIL')!.next).toBe('ACTIVE'); // A11
    expect(activationTransition('ACTIVE', 'MCM_DEACTIVATE')!.next).toBe('INACTIVE'); // A12
    expect(activationTransition('INACTIVE', 'MCM_ACTIVATE')!.next).toBe('ACTIVE'); // A15
    expect(activationTransition('INACTIVE', 'DELETE')!.next).toBe('DELETED'); // A14
    expect(activationTransition('INACTIVE', 'ACTIVATE_OK')).toBeUndefined(); // no completion without a request
  });

  it('every target is a known state (no state outside the table)', () => {
    for (const row of Object.values(ACTIVATION_TABLE))
      for (const out of Object.values(row)) if (out?.next) expect(ACTIVATION_STATES).toContain(out.next);
    for (const row of Object.values(CALL_TABLE))
      for (const out of Object.values(row)) if (out?.next) expect(CALL_STATES).toContain(out.next);
  });
});

describe('call table (spec §2.5)', () => {
  it('K-transitions', () => {
    expect(callTransition('IDLE', 'MAKE_CALL')!.next).toBe('MAKING'); // K1
    expect(callTransition('MAKING', 'MAKE_CALL_OK')!.next).toBe('CONNECTED'); // K2
    expect(callTransition('OFFERED', 'INCOMING_ACCEPT')!.next).toBe('ACCEPTED'); // K5
    expect(callTransition('ACCEPTED', 'CALL_CONNECTED')!.next).toBe('CONNECTED'); // K7
    expect(callTransition('CONNECTED', 'INCOMING_CLOSE')!.next).toBe('CLOSE_INDICATED'); // K8
    expect(callTransition('CLOSE_INDICATED', 'CLOSE_CALL')!.next).toBe('CLOSING'); // K11
    expect(callTransition('CLOSING', 'CLOSE_FAIL')!.next).toBe('CONNECTED'); // K13
    expect(callTransition('MAKING', 'CLOSE_CALL')!.refuse).toBe(NDIS_STATUS_NOT_ACCEPTED); // U6
    expect(callTransition('OFFERED', 'CALL_CONNECTED')).toBeUndefined(); // E29
    expect(callTransition('CLOSE_INDICATED', 'CALL_CONNECTED')).toBeUndefined(); // E29
  });
});

describe('send policy (spec §4.3)', () => {
  const v = (a: ActivationState, c: Parameters<typeof sendVerdict>[2], sig = false, reset = false) =>
    sendVerdict('strict-core', a, c, sig, reset);
  it('strict-core table', () => {
    expect(v('ACTIVE', 'CONNECTED')).toBe(NDIS_STATUS_SUCCESS);
    expect(v('REACTIVATING', 'MODIFYING')).toBe(NDIS_STATUS_SUCCESS);
    expect(v('INACTIVE', 'IDLE')).toBe(NDIS_STATUS_VC_NOT_ACTIVATED);
    expect(v('ACTIVATING', 'MAKING')).toBe(NDIS_STATUS_VC_NOT_ACTIVATED);
    expect(v('DEACTIVATING', 'CONNECTED')).toBe(NDIS_STATUS_CLOSING);
    expect(v('ACTIVE', 'CLOSING')).toBe(NDIS_STATUS_CLOSING);
    expect(v('ACTIVE', 'CLOSE_INDICATED')).toBe(NDIS_STATUS_CLOSING);
    expect(v('ACTIVE', 'IDLE', true)).toBe(NDIS_STATUS_SUCCESS); // CM signalling VC
    expect(v('ACTIVE', 'CONNECTED', false, true)).toBe(NDIS_STATUS_RESET_IN_PROGRESS);
  });
  it('pass-through forwards all but resets', () => {
    expect(sendVerdict('pass-through', 'INACTIVE', 'IDLE', false, false)).toBe(NDIS_STATUS_SUCCESS);
    expect(sendVerdict('pass-through', 'ACTIVE', 'CONNECTED', false, true)).toBe(
      NDIS_STATUS_RESET_IN_PROGRESS,
    );
  });
});
