// 1,000 TAP create/close cycles through the whole stack leave no fd, thread or interface behind.
import * as fs from 'node:fs';
import { describe, expect, it } from 'vitest';
import { openTap } from '../../lib/device';
import { ifExists, ifName } from '../helpers/host';
import { tapTestsEnabled } from '../helpers/privilege';
import { waitUntil } from '../helpers/wait';

const enabled = tapTestsEnabled('tap-lifecycle');
const fds = () => fs.readdirSync('/proc/self/fd').length;
const threads = () => fs.readdirSync('/proc/self/task').length;

describe.runIf(enabled)('TAP lifecycle', () => {
  it('1,000 open/close cycles leave no fd, thread or interface behind', { timeout: 120_000 }, async () => {
    const name = ifName('ctc');
    const warm = openTap({ name, queuePairs: 1, queueSize: 8 });
    await warm.close();
    const fd0 = fds();
    const th0 = threads();
    for (let i = 0; i < 1000; i++) {
      const d = openTap({ name, queuePairs: 1, queueSize: 8 });
      if (i % 2 === 0) await d.close();
      else d.destroy();
    }
    await waitUntil(() => threads() <= th0, 'device threads to exit');
    expect(fds()).toBe(fd0);
    expect(threads()).toBe(th0);
    expect(ifExists(name)).toBe(false);
  });
});
