// Regression (issue 12 point 4): after warmUp(), a program's first deactivation on a runtime of its
// own threw away V8's optimized send completion ('wrong call target' in completeChains: the call
// sites had only seen warmUp's one instance's closures) and took 0.2-0.4 ms to handle the
// interrupt instead of ~5 us. warmUp() now runs two private runtimes in turn.
import { spawnSync } from 'node:child_process';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';

const FIXTURE = path.join(__dirname, 'fixtures/deactivate-after-warm-up.ts');

describe('warmUp() then a new instance', () => {
  it("deoptimizes nothing of the package's send completion on the first deactivation", () => {
    const r = spawnSync(process.execPath, ['--trace-deopt', '--import', 'tsx', FIXTURE], {
      encoding: 'utf8',
      timeout: 60_000,
    });
    expect(r.status, r.stderr).toBe(0);
    const after = r.stdout.split('--- warmUp() done ---\n')[1] ?? '';
    expect(after).toContain('--- first deactivation done ---');
    // Every function V8 deoptimized after warmUp(), by name.
    const names = [...after.matchAll(/deoptimizing \S+ <JSFunction (\S+)/g)].map((m) => m[1]);
    // The miniport's transmit completion and NDIS's send-complete path must stay optimized.
    expect(names).not.toContain('completeChains');
    expect(names).not.toContain('giveBack');
    expect(names).not.toContain('mCoSendNetBufferListsComplete');
  }, 90_000);
});
