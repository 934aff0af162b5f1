/**
 * removeStaleClusters (lib/cluster/stale.ts): what `condis demo` and `condis bench calls` remove
 * before they build their own cluster. A namespace named after a process that no longer runs
 * (`<prefix><dead pid>-ul`, with a process still inside, as a node orphaned by a SIGKILLed demo
 * is) goes, its process stopped, with its run directory /run/condis/<id> (also one whose
 * namespaces are gone already); one named after a live process, another prefix, or this process,
 * stays. Root and mandatory under CI=true (tapTestsEnabled).
 */
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { listNamespaces } from '../../lib/cluster/netns';
import { alive } from '../../lib/cluster/node-process';
import { ownRunDir, removeStaleClusters } from '../../lib/cluster/stale';
import { tapTestsEnabled } from '../helpers/privilege';
import { waitUntil } from '../helpers/wait';

const enabled = tapTestsEnabled('removeStaleClusters');
/** A prefix of this test's own (letters only), so no real demo's or bench's cluster is touched. */
const PREFIX = `zst${String.fromCharCode(97 + (process.pid % 26))}`;
const made: string[] = [];
const dirs: string[] = [];
const children: ChildProcess[] = [];

function netns(name: string): void {
  expect(spawnSync('ip', ['netns', 'add', name]).status).toBe(0);
  made.push(name);
}

/** A pid that ran and has exited (its process reaped): nothing runs under it now. */
function deadPid(): number {
  const r = spawnSync('sh', ['-c', 'echo $$']);
  return Number(String(r.stdout).trim());
}

afterAll(() => {
  for (const c of children) c.kill('SIGKILL');
  for (const ns of made) spawnSync('ip', ['netns', 'del', ns]);
  for (const d of dirs) fs.rmSync(d, { recursive: true, force: true });
});

describe.skipIf(!enabled)('removeStaleClusters', () => {
  it('removes the clusters of dead pids with the processes inside them, and nothing else', async () => {
    const dead = deadPid();
    expect(alive(dead)).toBe(false);
    netns(`${PREFIX}${dead}-ul`);
    netns(`${PREFIX}${dead}-h1`);
    // Its run directory, with a state file in it.
    const runDir = ownRunDir(`${PREFIX}${dead}`);
    fs.mkdirSync(runDir, { recursive: true });
    fs.writeFileSync(path.join(runDir, 'h1.log'), '');
    // A run directory alone (its namespaces went, the directory stayed): stale as well.
    const lone = deadPid();
    fs.mkdirSync(ownRunDir(`${PREFIX}${lone}`), { recursive: true });
    dirs.push(runDir, ownRunDir(`${PREFIX}${lone}`));
    // An orphaned "node": a process living in the dead run's host namespace.
    const orphan = spawn('ip', ['netns', 'exec', `${PREFIX}${dead}-h1`, 'sleep', '600'], { stdio: 'ignore' });
    children.push(orphan);
    await waitUntil(
      () => alive(orphan.pid!) && spawnSync('ip', ['netns', 'pids', `${PREFIX}${dead}-h1`]).stdout.length > 0,
      'the orphan inside',
    );
    // Kept: a live pid's (a sleeping child of ours), this process's, and another prefix's.
    const live = spawn('sleep', ['600'], { stdio: 'ignore' });
    children.push(live);
    netns(`${PREFIX}${live.pid}-ul`);
    netns(`${PREFIX}${process.pid}-ul`);
    netns(`${PREFIX}x${dead}-ul`);

    expect((await removeStaleClusters(PREFIX, 2000)).sort()).toEqual(
      [`${PREFIX}${dead}`, `${PREFIX}${lone}`].sort(),
    );
    expect(fs.existsSync(runDir)).toBe(false);
    expect(fs.existsSync(ownRunDir(`${PREFIX}${lone}`))).toBe(false);
    const after = new Set(listNamespaces());
    expect(after.has(`${PREFIX}${dead}-ul`)).toBe(false);
    expect(after.has(`${PREFIX}${dead}-h1`)).toBe(false);
    await waitUntil(() => orphan.exitCode !== null || orphan.signalCode !== null, 'the orphan stopped');
    for (const kept of [`${PREFIX}${live.pid}-ul`, `${PREFIX}${process.pid}-ul`, `${PREFIX}x${dead}-ul`])
      expect(after.has(kept), kept).toBe(true);
    // Nothing stale left: a second sweep finds nothing.
    expect(await removeStaleClusters(PREFIX, 2000)).toEqual([]);
  });
});
