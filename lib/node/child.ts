/**
 * A `condis node` child process seen from its parent (the tests, and `condis cluster` later): it
 * is started from the sources or dist (spawn.ts), optionally inside a network namespace; its
 * stdout JSON events are collected as they come, and waited for by predicate; its exit is a
 * promise. stop() asks it to stop with SIGTERM; kill() ends it (SIGKILL) — both by its pid only.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { CondisError } from '../errors';
import type { NodeEvent } from './events';
import { nodeCommand } from './spawn';

export type AnyNodeEvent = NodeEvent | ({ event: string } & Record<string, unknown>);
export type ReadyEvent = Extract<NodeEvent, { event: 'ready' }>;

export class NodeProcess {
  readonly events: AnyNodeEvent[] = [];
  /** What it wrote to stderr (errors; kept for a failing test's message). */
  stderr = '';
  /** Settles with the exit code (null if a signal ended it) and the signal. */
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  private readonly child: ChildProcess;
  private waiters: (() => void)[] = [];
  private done = false;

  constructor(args: readonly string[], netns?: string) {
    const { command, args: argv } = nodeCommand(args, netns);
    this.child = spawn(command, argv, { stdio: ['ignore', 'pipe', 'pipe'] });
    let buf = '';
    this.child.stdout!.setEncoding('utf8');
    this.child.stdout!.on('data', (d: string) => {
      buf += d;
      for (let nl = buf.indexOf('\n'); nl >= 0; nl = buf.indexOf('\n')) {
        const line = buf.slice(0, nl);
        buf = buf.slice(nl + 1);
        try {
          this.events.push(JSON.parse(line) as AnyNodeEvent);
        } catch {
          this.events.push({ event: 'not-json', line });
        }
      }
      this.wake();
    });
    this.child.stderr!.setEncoding('utf8');
    this.child.stderr!.on('data', (d: string) => {
      this.stderr += d;
    });
    this.exited = new Promise((resolve) => {
      this.child.on('exit', (code, signal) => {
        this.done = true;
        this.wake();
        resolve({ code, signal });
      });
    });
  }

  get pid(): number | undefined {
    return this.child.pid;
  }

  get running(): boolean {
    return !this.done;
  }

  /**
   * The first event (from the start) for which `match` holds; rejects if the process exits
   * first or `timeoutMs` passes (the message carries its stderr).
   */
  async waitFor(
    match: (e: AnyNodeEvent) => boolean,
    what: string,
    timeoutMs = 20_000,
  ): Promise<AnyNodeEvent> {
    const end = Date.now() + timeoutMs;
    for (;;) {
      const e = this.events.find(match);
      if (e) return e;
      if (this.done || Date.now() >= end)
        throw new CondisError(
          'ERR_CONDIS_INVALID_STATE',
          `node ${this.pid}: no ${what} (${this.done ? 'it exited' : 'timed out'}); stderr: ${this.stderr.trim()}`,
        );
      await new Promise<void>((r) => {
        const t = setTimeout(r, Math.max(1, end - Date.now()));
        this.waiters.push(() => {
          clearTimeout(t);
          r();
        });
      });
    }
  }

  /** The ready event. */
  async ready(timeoutMs = 30_000): Promise<ReadyEvent> {
    return (await this.waitFor((e) => e.event === 'ready', 'ready event', timeoutMs)) as ReadyEvent;
  }

  /** SIGTERM (the node closes its calls and stops); resolves with how it exited. */
  stop(): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
    if (!this.done) this.child.kill('SIGTERM');
    return this.exited;
  }

  /** SIGKILL, if it still runs. */
  kill(): void {
    if (!this.done) this.child.kill('SIGKILL');
  }

  private wake(): void {
    const ws = this.waiters;
    this.waiters = [];
    for (const w of ws) w();
  }
}
