/**
 * A missing addon is a CondisError with code ERR_CONDIS_NO_ADDON (issue 11, one error
 * vocabulary): the loader's failure path (lib/native.ts loadAddon) played with an injected
 * `require`, so the real addon this process may have loaded stays loaded. No addon needed.
 */
import { describe, expect, it } from 'vitest';
import { CondisError, ErrorCodes } from '../../lib/errors';
import { loadAddon, noAddonError } from '../../lib/native';

/** What node-gyp-build throws when it finds neither build/Release nor a prebuild. */
const NOT_FOUND =
  'No native build was found for platform=linux arch=x64 runtime=node abi=115\n    attempted loading from: /x';

function thrown(f: () => unknown): unknown {
  try {
    f();
  } catch (e) {
    return e;
  }
  throw new Error('expected a throw');
}

describe('ERR_CONDIS_NO_ADDON', () => {
  it('node-gyp-build finding no binary: a CondisError with the code, the cause kept', () => {
    const cause = new Error(NOT_FOUND);
    const seen: string[] = [];
    const req = (id: string): unknown => {
      seen.push(id);
      return (dir: string) => {
        seen.push(dir);
        throw cause;
      };
    };
    const e = thrown(() => loadAddon('/pkg', req));
    expect(seen).toEqual(['node-gyp-build', '/pkg']);
    expect(e).toBeInstanceOf(CondisError);
    expect(e).toMatchObject({ name: 'CondisError', code: 'ERR_CONDIS_NO_ADDON', cause });
    expect(ErrorCodes).toHaveProperty('ERR_CONDIS_NO_ADDON');
    const msg = (e as Error).message;
    // The loader's first line only, and what a consumer runs (no script of this repository first).
    expect(msg).toContain('(No native build was found for platform=linux arch=x64 runtime=node abi=115)');
    expect(msg).not.toContain('attempted loading from');
    expect(msg).toMatch(/^condis-tap: no prebuilt binary for \w+-\w+ and no compiled addon /);
    expect(msg).toMatch(/run `npm rebuild condis-tap`/);
  });

  it('node-gyp-build itself missing: the same coded error', () => {
    const e = thrown(() =>
      loadAddon('/pkg', () => {
        throw Object.assign(new Error("Cannot find module 'node-gyp-build'"), { code: 'MODULE_NOT_FOUND' });
      }),
    );
    expect(e).toBeInstanceOf(CondisError);
    expect((e as CondisError).code).toBe('ERR_CONDIS_NO_ADDON');
    expect((e as Error).message).toContain("(Cannot find module 'node-gyp-build')");
  });

  it('a thrown non-Error is quoted, not a second failure inside the handler', () => {
    const e = noAddonError('dlopen said no');
    expect(e).toBeInstanceOf(CondisError);
    expect(e.code).toBe('ERR_CONDIS_NO_ADDON');
    expect(e.message).toContain('(dlopen said no)');
    expect(e.cause).toBe('dlopen said no');
  });

  it('a loader that works returns the binding as is', () => {
    const binding = { abiVersion: 1 };
    expect(loadAddon('/pkg', () => () => binding)).toBe(binding);
  });
});
