import { describe, expect, it } from 'vitest';
import {
  isSuccess,
  NDIS_STATUS,
  NDIS_STATUS_CALL_ACTIVE,
  NDIS_STATUS_CLOSING,
  NDIS_STATUS_NOT_ACCEPTED,
  NDIS_STATUS_PAUSED,
  NDIS_STATUS_PENDING,
  NDIS_STATUS_SEND_ABORTED,
  NDIS_STATUS_SUCCESS,
  NDIS_STATUS_VC_NOT_ACTIVATED,
  statusName,
} from '../../../lib/ndis';

describe('NDIS_STATUS values (spec §4.4)', () => {
  it('have the header values', () => {
    expect(NDIS_STATUS_SUCCESS).toBe(0);
    expect(NDIS_STATUS_PENDING).toBe(0x103);
    expect(NDIS_STATUS_NOT_ACCEPTED).toBe(0x00010003);
    expect(NDIS_STATUS_CLOSING).toBe(0xc0010002);
    expect(NDIS_STATUS_VC_NOT_ACTIVATED).toBe(0xc0010023);
    expect(NDIS_STATUS.NDIS_STATUS_RESOURCES).toBe(0xc000009a);
    expect(NDIS_STATUS.NDIS_STATUS_INCOMPATABLE_QOS).toBe(0xc0010027);
    expect(NDIS_STATUS_SEND_ABORTED).toBe(0xc023000c);
    expect(NDIS_STATUS_PAUSED).toBe(0xc023002a);
  });

  it('are distinct', () => {
    const values = Object.values(NDIS_STATUS);
    expect(new Set(values).size).toBe(values.length);
  });

  it('success is equality, never a sign test: NOT_ACCEPTED and CALL_ACTIVE are refusals', () => {
    expect(isSuccess(NDIS_STATUS_SUCCESS)).toBe(true);
    for (const s of [NDIS_STATUS_NOT_ACCEPTED, NDIS_STATUS_CALL_ACTIVE, NDIS_STATUS_PENDING]) {
      expect(s | 0).toBeGreaterThan(0); // "non-negative" in NTSTATUS terms
      expect(isSuccess(s)).toBe(false);
    }
  });

  it('names', () => {
    expect(statusName(NDIS_STATUS_CLOSING)).toBe('CLOSING');
    expect(statusName(0x12345678)).toBe('0x12345678');
  });
});
