// Regression: as root, `condis bench drain --pcap /nonexistent/x.pcap` printed its error and never
// exited: the kernel comparison's python3 helper (lib/bench/kernel-quiesce.ts), started with piped
// stdio, kept Node alive. Now the path is checked before anything starts, and the helper never
// holds the event loop on its own: a caller that fails without stop() still exits (and the
// helper, reading EOF, takes its TAP with it).
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { isRoot } from '../helpers/unprivileged';
import { waitUntil } from '../helpers/wait';
import { DOUBLED_CODE } from './command-table';
import { buildDist, ROOT } from './helpers';

beforeAll(() => buildDist(), 120_000);

describe('bench drain exits after an error', () => {
  it('--pcap in a missing directory: one line, non-zero exit, within seconds, nothing started', () => {
    const t0 = Date.now();
    const r = spawnSync(
      process.execPath,
      [path.join(ROOT, 'bin/condis.js'), 'bench', 'drain', '--pcap', '/nonexistent/x.pcap'],
      { cwd: ROOT, encoding: 'utf8', timeout: 15_000 },
    );
    expect(r.signal).toBeNull(); // not killed by the timeout
    expect(Date.now() - t0).toBeLessThan(10_000);
    expect(r.status).not.toBe(0);
    expect(r.stdout).toBe('');
    const lines = r.stderr.trimEnd().split('\n');
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(
      /^condis bench: --pcap \/nonexistent\/x\.pcap: ENOENT: .*\(try condis bench drain --help\)$/,
    );
    expect(lines[0]).not.toMatch(DOUBLED_CODE);
  });

  it.runIf(isRoot())(
    'a process that started the kernel quiesce helper and never stopped it still exits, and the TAP goes',
    async () => {
      const ifname = `ckqh${process.pid % 100000}`;
      const script = [
        "const { KernelQuiesce } = require('./dist/lib/bench/kernel-quiesce.js');",
        `KernelQuiesce.start('${ifname}', 16).then(async (k) => {`,
        '  const s = await k.sample(4);',
        "  process.stdout.write('sent ' + s.sent + '\\n');",
        '  process.exitCode = 3;', // an error path that forgets k.stop()
        '});',
      ].join('\n');
      const t0 = Date.now();
      const r = spawnSync(process.execPath, ['-e', script], { cwd: ROOT, encoding: 'utf8', timeout: 15_000 });
      expect(r.signal).toBeNull();
      expect(Date.now() - t0).toBeLessThan(10_000);
      expect(r.stdout).toBe('sent 4\n');
      expect(r.status).toBe(3);
      // The helper read EOF on its stdin and exited; its TAP (not persistent) went with it.
      await waitUntil(() => !fs.existsSync(`/sys/class/net/${ifname}`), `TAP ${ifname} removed`);
    },
    30_000,
  );
});
