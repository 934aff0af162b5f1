/**
 * SIGINT, SIGTERM and SIGHUP as one AbortSignal, for a command that must clean up before it exits
 * (namespaces, TAPs, child processes): the default action of these signals kills the process and
 * leaves all of that behind. The command stops its work when `signal` aborts, cleans up, and exits
 * with `exitCode`: 128 + the signal's number (130, 143, 129), as a shell reports a killed job.
 */
import * as os from 'node:os';

const SIGNALS = ['SIGINT', 'SIGTERM', 'SIGHUP'] as const;

/** The Interrupts listening now (a command that cleans up is running). */
const live = new Set<Interrupts>();

/**
 * stdout's reader went away (`condis demo | head -1`: the next write fails with EPIPE). A command
 * that cleans up (an Interrupts is listening) is interrupted as by a SIGPIPE (exit 141, as a shell
 * reports `yes | head`) and removes what it made; true then. false when none is: the caller ends
 * the process at once, quietly, as other Unix tools do. (Exiting at once while a demo's cluster
 * was up left its namespaces and node processes behind.)
 */
export function interruptOnBrokenPipe(): boolean {
  if (live.size === 0) return false;
  for (const i of live) i.interrupt('SIGPIPE');
  return true;
}

export class Interrupts {
  private readonly ac = new AbortController();
  private code = 130;
  private readonly onSignal = (sig: NodeJS.Signals): void => this.interrupt(sig);

  /** Starts listening (until dispose()). */
  constructor() {
    for (const sig of SIGNALS) process.on(sig, this.onSignal);
    live.add(this);
  }

  /** As if `sig` had come: the first one aborts the signal and sets the exit status. */
  interrupt(sig: NodeJS.Signals): void {
    if (this.ac.signal.aborted) return;
    this.code = 128 + (os.constants.signals[sig] ?? 2);
    this.ac.abort(sig);
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
    live.delete(this);
  }
}
