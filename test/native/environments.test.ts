// The addon in several Node environments at once (the main thread and worker_threads Workers):
// each environment keeps its own constructor and handles (native/addon.h Addon, its instance
// data), and nothing calls into an environment that is being torn down (a worker terminated with
// interrupts queued). Issue 9: a segfault (exit 139) when the main thread opened a device after a
// worker had exited, and an abort ("terminate called after throwing an instance of
// 'Napi::Error'") on worker.terminate() mid-traffic: from the interrupt callback, and from any
// native call a worker makes as its termination begins (node-addon-api could not rethrow the
// failure as JS; binding.gyp now defines NODE_API_SWALLOW_UNTHROWABLE_EXCEPTIONS).
//
// Each scenario runs in a child process (test/native/fixtures/environments.ts), so a crash is an
// exit status here, not the test runner dying.
import { execFile } from 'node:child_process';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';

const FIXTURE = path.join(__dirname, 'fixtures/environments.ts');

interface Ran {
  code: number | null;
  signal: string | null;
  stderr: string;
  // biome-ignore lint/suspicious/noExplicitAny: the scenario's own JSON facts
  facts: any;
}

function scenario(name: string, timeoutMs: number): Promise<Ran> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      ['--import', 'tsx', FIXTURE, name],
      { cwd: path.resolve(__dirname, '../..'), timeout: timeoutMs, killSignal: 'SIGKILL' },
      (err, stdout, stderr) => {
        const e = err as (Error & { code?: number; signal?: string }) | null;
        const last = stdout.trim().split('\n').pop() ?? '';
        resolve({
          code: e ? (typeof e.code === 'number' ? e.code : null) : 0,
          signal: e?.signal ?? null,
          stderr,
          facts: last.startsWith('{') ? JSON.parse(last) : null,
        });
      },
    );
  });
}

/** Exit 0 and a report, or a failure that shows how the child died. */
function expectClean(r: Ran): void {
  expect({ code: r.code, signal: r.signal, stderr: r.stderr.slice(-2000) }).toEqual({
    code: 0,
    signal: null,
    stderr: expect.any(String),
  });
  expect(r.facts).not.toBeNull();
}

describe('the addon across Node environments', () => {
  it('a worker that opened and destroyed a device and exited leaves the main thread able to open devices', async () => {
    const r = await scenario('worker-exit-then-open', 60_000);
    expectClean(r);
    expect(r.facts.workerExit).toBe(0);
    expect(r.facts.received).toBe(r.facts.sent);
    expect(r.facts.txFailed).toBe(0);
    expect(r.facts.outOfOrder).toBe(0);
  }, 90_000);

  it('a worker terminated while its device moves frames, 50 times: no crash, the main thread moves frames throughout and loses none, fds and threads unchanged', async () => {
    const r = await scenario('terminate-mid-traffic', 240_000);
    expectClean(r);
    const f = r.facts;
    expect(f.iterations).toBe(50);
    // The main thread's pair moved frames during every worker's life and teardown.
    expect(f.mainMovedDuring).toBe(50);
    expect(f.received).toBe(f.sent);
    expect(f.txFailed).toBe(0);
    expect(f.outOfOrder).toBe(0);
    expect(f.fdGrowth).toBe(0);
    expect(f.threadGrowth).toBe(0);
  }, 300_000);

  it('a worker terminated in the middle of native calls, 50 times: no crash, fds and threads unchanged', async () => {
    const r = await scenario('terminate-in-native-calls', 240_000);
    expectClean(r);
    expect(r.facts).toEqual({ iterations: 50, fdGrowth: 0, threadGrowth: 0 });
  }, 300_000);

  it('two workers with devices of their own at once: every frame of each arrives, in order; fds and threads unchanged', async () => {
    const r = await scenario('two-workers', 120_000);
    expectClean(r);
    const f = r.facts;
    for (const w of f.workers) {
      expect(w).toMatchObject({ sent: f.frames, received: f.frames, txFailed: 0, outOfOrder: 0 });
    }
    expect(f.exits).toEqual([0, 0]);
    expect(f.main.received).toBe(f.main.sent);
    expect(f.fdGrowth).toBe(0);
    expect(f.threadGrowth).toBe(0);
  }, 150_000);
});
