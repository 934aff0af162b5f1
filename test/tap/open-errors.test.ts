// Bad input gets a clear, coded error and leaves nothing behind: bad options, a name in use,
// no CAP_NET_ADMIN, no /dev/net/tun.
import { execFileSync } from 'node:child_process';
import * as path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { openTap, openWirePair } from '../../lib/device';
import { ifExists, ifName, shQuiet } from '../helpers/host';
import { tapTestsEnabled } from '../helpers/privilege';
import { stagePackage } from '../helpers/unprivileged';

const enabled = tapTestsEnabled('open-errors');
const ROOT = path.resolve(__dirname, '../..');

/** The child's script: openTap(name) from `lib` (a module path), its {code, message} as JSON. */
function openTapScript(lib: string, name: string): string {
  return `
    const { openTap } = require(${JSON.stringify(lib)});
    try { const d = openTap({ name: ${JSON.stringify(name)} }); d.destroy(); console.log(JSON.stringify({ ok: true })); }
    catch (e) { console.log(JSON.stringify({ code: e.code, message: e.message, syscall: e.syscall })); }
  `;
}

type OpenResult = { code?: string; message?: string; ok?: boolean };

/** Runs openTap in a child node process (the sources, through tsx) under `wrapper`. */
function openTapIn(wrapper: string[], name: string): OpenResult {
  const script = `require('tsx/cjs');${openTapScript(path.join(ROOT, 'lib/device/index.ts'), name)}`;
  const out = execFileSync(wrapper[0]!, [...wrapper.slice(1), process.execPath, '-e', script], {
    cwd: ROOT,
    encoding: 'utf8',
  });
  return JSON.parse(out.trim().split('\n').pop()!);
}

describe('option validation (no privileges needed)', () => {
  it.each([
    [{ queueSize: 100 }, /power of two/],
    [{ queueSize: 65536 }, /queueSize must be an integer from 2 to 32768/],
    [{ queuePairs: 0 }, /queuePairs/],
    [{ queuePairs: 65 }, /queuePairs/],
    [{ bufferSize: 1000 }, /multiple of 64/],
    [{ batch: 0 }, /batch/],
    [{ name: 'a-name-much-too-long' }, /1 to 15 bytes/],
    [{ name: 'bad/name' }, /may not/],
    [{ name: 'bad name' }, /may not/],
    [{ name: '..' }, /may not/],
    [{ mac: '01:00:5e:00:00:01' }, /multicast/],
    [{ mac: '00:00:00:00:00:00' }, /all zero/],
    [{ mac: 'zz:00:00:00:00:01' }, /must look like/],
    [{ mtu: 20 }, /mtu must be an integer from 68 to 65521/],
    [{ vnetHdr: 'yes' }, /vnetHdr must be a boolean/],
    [{ colour: 'blue' }, /unknown option "colour"/],
    [{ pollUs: -1 }, /pollUs must be an integer from 0 to 10000/],
  ])('%j is refused with ERR_CONDIS_INVALID_ARG', (opts, msg) => {
    expect(() => openTap(opts as never)).toThrow(expect.objectContaining({ code: 'ERR_CONDIS_INVALID_ARG' }));
    expect(() => openTap(opts as never)).toThrow(msg);
    expect(() => openWirePair(opts as never)).toThrow(
      expect.objectContaining({ code: 'ERR_CONDIS_INVALID_ARG' }),
    );
  });

  it('every documented option is accepted', async () => {
    const [a, b] = openWirePair({
      queuePairs: 2,
      queueSize: 64,
      bufferSize: 256,
      vnetHdr: true,
      name: 'w0',
      batch: 32,
      uring: false,
      pollUs: 0,
      up: true,
      persist: false,
      multiQueue: false,
    });
    expect(a.info()).toMatchObject({ backend: 'wire', queuePairs: 2, vnetHdr: true });
    a.destroy();
    b.destroy();
  });

  it('binding errors are coded', () => {
    const [a, b] = openWirePair({ queuePairs: 3 });
    try {
      expect(() => a.bindPair(0, 5)).toThrow(expect.objectContaining({ code: 'ERR_CONDIS_INVALID_ARG' }));
      expect(() => a.bindPair(3, 5)).toThrow(expect.objectContaining({ code: 'ERR_CONDIS_INVALID_ARG' }));
      expect(() => a.bindPair(1, 4095)).toThrow(expect.objectContaining({ code: 'ERR_CONDIS_INVALID_ARG' }));
      a.bindPair(1, 5);
      expect(() => a.bindPair(2, 5)).toThrow(expect.objectContaining({ code: 'ERR_CONDIS_VID_IN_USE' }));
      expect(() => a.bindPair(1, 6)).toThrow(expect.objectContaining({ code: 'ERR_CONDIS_PAIR_IN_USE' }));
      a.unbindPair(1);
      a.bindPair(2, 5);
    } finally {
      a.destroy();
      b.destroy();
    }
  });
});

describe.runIf(enabled)('TAP open errors from the kernel', () => {
  const names: string[] = [];
  afterAll(() => {
    for (const n of names) shQuiet('ip', ['link', 'del', n]);
  });

  it('a name in use by another open TAP: EBUSY, and the first TAP is untouched', () => {
    const n = ifName('ctb');
    names.push(n);
    const first = openTap({ name: n });
    try {
      let err: (Error & { code?: string; syscall?: string }) | undefined;
      try {
        openTap({ name: n }).destroy();
      } catch (e) {
        err = e as Error & { code?: string; syscall?: string };
      }
      expect(err?.code).toBe('EBUSY');
      expect(err?.message).toMatch(new RegExp(n));
      expect(first.info().ifname).toBe(n);
    } finally {
      first.destroy();
    }
    expect(ifExists(n)).toBe(false);
  });

  it('a name that belongs to a non-TAP interface is refused clearly', () => {
    expect(() => openTap({ name: 'lo' })).toThrow(expect.objectContaining({ code: 'EEXIST' }));
    expect(ifExists('lo')).toBe(true);
  });

  it('an MTU the kernel refuses fails the open and leaves no interface', () => {
    const n = ifName('ctm');
    names.push(n);
    expect(() => openTap({ name: n, mtu: 65521, queuePairs: 1 })).not.toThrow(); // valid: cleaned below
    shQuiet('ip', ['link', 'del', n]);
  });

  it('without CAP_NET_ADMIN: EPERM, naming the capability and the wire backend', () => {
    const r = openTapIn(['setpriv', '--inh-caps=-net_admin', '--bounding-set=-net_admin'], ifName('ctp'));
    expect(r.code).toBe('EPERM');
    expect(r.message).toMatch(/CAP_NET_ADMIN/);
    expect(r.message).toMatch(/wire/);
  });

  it('as an unprivileged user: a coded error that says why', () => {
    // nobody may not be able to read the clone (a 0700 folder): it runs a staged copy of the
    // built package, with no capabilities at all.
    const stage = stagePackage();
    try {
      const script = openTapScript(path.join(stage.root, 'dist/lib/device/index.js'), ifName('ctu'));
      const out = execFileSync(
        'setpriv',
        ['--reuid=65534', '--regid=65534', '--clear-groups', '--inh-caps=-all', stage.node, '-e', script],
        { cwd: stage.root, encoding: 'utf8' },
      );
      const r = JSON.parse(out.trim().split('\n').pop()!) as OpenResult;
      expect(['EPERM', 'EACCES']).toContain(r.code);
      expect(r.message).toMatch(/\/dev\/net\/tun|CAP_NET_ADMIN/);
    } finally {
      stage.remove();
    }
  });

  it('without /dev/net/tun: ENOENT, saying what is missing', () => {
    const r = openTapIn(
      ['unshare', '--mount', '--', 'sh', '-c', 'mount -t tmpfs none /dev/net && exec "$0" "$@"'],
      ifName('ctn'),
    );
    expect(r.code).toBe('ENOENT');
    expect(r.message).toMatch(/\/dev\/net\/tun/);
  });

  it('persistent TAPs outlive close()', async () => {
    const n = ifName('ctP');
    names.push(n);
    const d = openTap({ name: n, persist: true });
    await d.close();
    expect(ifExists(n)).toBe(true);
    shQuiet('ip', ['link', 'del', n]);
    expect(ifExists(n)).toBe(false);
  });

  it('MAC, MTU and vnet header options reach the kernel', async () => {
    const n = ifName('ctO');
    const d = openTap({ name: n, mac: '02:11:22:33:44:55', mtu: 1400, vnetHdr: true });
    try {
      expect(d.info()).toMatchObject({ mac: '02:11:22:33:44:55', mtu: 1400, vnetHdr: true, linkUp: true });
      d.setLink(false);
      expect(d.info().linkUp).toBe(false);
      d.setLink(true);
      d.setMtu(9000);
      expect(d.info().mtu).toBe(9000);
    } finally {
      await d.close();
    }
    expect(ifExists(n)).toBe(false);
  });
});
