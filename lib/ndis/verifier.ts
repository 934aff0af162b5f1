/**
 * The verifier: rule checks on the drivers written against the runtime (spec §2-§6). Each break
 * becomes a CondisError whose code names the rule (ERR_CONDIS_E43...), with the VC, its states and
 * its counters in the message.
 *
 * Modes:
 * - 'throw' (default): record, call `onViolation`, then throw at the driver call that broke the rule.
 *   The runtime's state is left consistent before the throw (it continues as in 'report').
 * - 'report': record and call `onViolation`; the runtime continues with the documented refusal or
 *   the lenient handling each rule names (e.g. a deactivation completed too early waits for the drain).
 * - 'off': no checks recorded (the lenient handling still applies).
 * Breaks detected on a timer (a drain deadline) are only reported, whatever the mode.
 */
import type { CondisError } from '../errors';
import { ndisError, type VcSnapshot } from './errors';

/** What the verifier does on a contract break (see the top of this file). */
export type VerifierMode = 'throw' | 'report' | 'off';

/**
 * How many breaks the verifier keeps (the first ones; later ones are only counted). A long run
 * with a deadline that keeps firing (a soak: ~180 DRAIN_TIMEOUTs in 10 minutes) otherwise grows
 * the list, and each kept error held its VC's objects (measured: +26 VCs' worth per 100 s).
 */
export const kVerifierKept = 1000;

/** The rule checks of one Ndis (`ndis.verifier`): the breaks recorded, and the mode (may be changed at run time). */
export class Verifier {
  /** The first {@link kVerifierKept} breaks recorded; {@link count} counts them all. */
  readonly violations: CondisError[] = [];
  /** Every break recorded, kept or not. */
  count = 0;

  constructor(
    public mode: VerifierMode = 'throw',
    private readonly onViolation?: (e: CondisError) => void,
  ) {}

  /** Record a contract break; throws in 'throw' mode. Call it last, once state is consistent. */
  flag(code: string, message: string, vc?: VcSnapshot): void {
    const e = this.report(code, message, vc);
    if (e && this.mode === 'throw') throw e;
  }

  /** Record a break without throwing (asynchronous contexts). */
  report(code: string, message: string, vc?: VcSnapshot): CondisError | undefined {
    if (this.mode === 'off') return undefined;
    const e = ndisError(code, message, vc);
    // Format the stack now: until it is read, V8 keeps the structured trace, whose frames hold
    // their receivers and closures (the VC's records, the deadline's timer) alive with the error.
    void e.stack;
    this.count++;
    if (this.violations.length < kVerifierKept) this.violations.push(e);
    this.onViolation?.(e);
    return e;
  }

  /** Codes recorded so far (handy in tests). */
  codes(): string[] {
    return this.violations.map((v) => v.code);
  }
}
