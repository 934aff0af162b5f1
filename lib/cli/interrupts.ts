/**
 * SIGINT, SIGTERM and SIGHUP as one AbortSignal, for a command that must clean up before it exits
 * (namespaces, TAPs, child processes): the default action of these signals kills the process and
 * leaves all of that behind. The command stops its work when `signal` aborts, cleans up, and exits
 * with `exitCode`: 128 + the signal's number (130, 143, 129), as a shell reports a killed job.
 */
import * as os from 'node:os';

const SIGNALS = ['SIGINT', 'SIGTERM', 'SIGHUP'] as const;

export class Interrupts {
  private readonly ac = new AbortController();
  private code = 130;
  private readonly onSignal = (sig: NodeJS.Signals): void => {
    if (this.ac.signal.aborted) return;
    this.code = 128 + (os.constants.signals[sig] ?? 2);
    this.ac.abort(sig);
  };

  /** Starts listening (until dispose()). */
  constructor() {
    for (const sig of SIGNALS) process.on(sig, this.onSignal);
  }

  /** Aborted, with the signal's name as its reason, on the first of the three signals. */
  get signal(): AbortSignal {
    return this.ac.signal;
  }

  /** The exit status for the signal that came (130 before any). */
  get exitCode(): number {
    return this.code;
  }

  /** Stops listening: the signals' default actions apply again. */
  dispose(): void {
    for (const sig of SIGNALS) process.off(sig, this.onSignal);
  }
}
