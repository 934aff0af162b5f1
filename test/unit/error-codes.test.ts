/**
 * One error vocabulary: every ERR_CONDIS_* code any layer raises is in the registry
 * (lib/errors.ts ErrorCodes) and in the README's "Error codes" table, and the registry lists no
 * code that nothing raises. The raisers are found by reading the source, not by running it:
 * string literals in lib/**, bin/** and native/** (not tests, not fuzz targets or corpora),
 * `ruleCode(<n>)` calls (verifier rules), `CondisErrorCode.<NAME>` references,
 * `ringErrorCode(...)` calls and the `ERR_CONDIS_RING_${...}` template (the RingError family), and
 * the constants of native/error_codes.h that native .cc files use.
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { CondisError, ErrorCodes, fromNative, ringErrorCode } from '../../lib/errors';
import { CondisErrorCode, ndisError } from '../../lib/ndis/errors';
import { RingError } from '../../lib/virtio/layout';

const ROOT = join(__dirname, '../..');
const REGISTRY_FILE = 'lib/errors.ts';
const NATIVE_HEADER = 'native/error_codes.h';

/**
 * Codes listed before their raiser lands: the VcChannel work of issue 11 raises these on another
 * branch. Once it is merged they are raised, and the test below fails until this list is emptied.
 */
const AWAITING_RAISER: readonly string[] = [];

/** Every RingError but Ok, as codes: native/virtq.h numbers them, lib/errors.ts names them. */
const RING_FAMILY = Object.values(RingError)
  .filter((n) => n !== RingError.Ok)
  .map((n) => ringErrorCode(n));

function walk(dir: string, keep: (rel: string) => boolean, out: string[] = []): string[] {
  for (const name of readdirSync(join(ROOT, dir))) {
    const rel = `${dir}/${name}`;
    if (statSync(join(ROOT, rel)).isDirectory()) walk(rel, keep, out);
    else if (keep(rel)) out.push(rel);
  }
  return out;
}

function sourceFiles(): string[] {
  return [
    ...walk('lib', (f) => f.endsWith('.ts') && !f.endsWith('.test.ts')),
    ...walk('bin', (f) => /\.(c|m)?[jt]s$/.test(f)),
    // native/test: the C++ tests; native/fuzz: fuzz targets and their corpora.
    ...walk(
      'native',
      (f) => /\.(cc|h)$/.test(f) && !f.startsWith('native/test/') && !f.startsWith('native/fuzz/'),
    ),
  ];
}

interface Raised {
  /** code -> files that raise it */
  codes: Map<string, Set<string>>;
  /** problems found while reading (a code the test cannot enumerate, a literal in the wrong place) */
  problems: string[];
}

/** What each source file raises, and the native header's constants. */
function scan(files: readonly string[], read: (f: string) => string): Raised {
  const codes = new Map<string, Set<string>>();
  const problems: string[] = [];
  const add = (code: string, file: string): void => {
    const s = codes.get(code) ?? new Set<string>();
    codes.set(code, s.add(file));
  };
  const header = read(NATIVE_HEADER);
  const nativeConst = new Map<string, string>(); // kInvalidArg -> ERR_CONDIS_INVALID_ARG
  for (const m of header.matchAll(/constexpr\s+const\s+char\s+(k\w+)\[\]\s*=\s*"(ERR_CONDIS_[A-Z0-9_]+)"/g)) {
    nativeConst.set(m[1] ?? '', m[2] ?? '');
  }
  const usedConst = new Set<string>();

  for (const file of files) {
    if (file === REGISTRY_FILE || file === NATIVE_HEADER) continue;
    let text = read(file);
    // The short names of lib/ndis/errors.ts are declarations; their uses are the raisers.
    text = text.replace(/export const CondisErrorCode = \{[\s\S]*?\n\}/, '');
    const isNative = file.startsWith('native/');

    for (const m of text.matchAll(/(["'`])(ERR_CONDIS_[A-Z0-9_]*)(["'`]|\$\{)/g)) {
      const [, open, code = '', close] = m;
      if (close === '${') {
        if (code === 'ERR_CONDIS_RING_') for (const c of RING_FAMILY) add(c, file);
        else if (code === 'ERR_CONDIS_E' && file === 'lib/ndis/errors.ts') {
          // ruleCode's own template: its call sites below say which rules are raised.
        } else
          problems.push(`${file}: a code built at runtime from "${code}\${...}"; teach this test its family`);
      } else if (open !== close) {
        problems.push(`${file}: "${code}" is half of a string; spell codes whole`);
      } else {
        add(code, file);
        if (isNative)
          problems.push(`${file}: "${code}" spelled as a literal; use a constant of ${NATIVE_HEADER}`);
      }
    }
    if (isNative) {
      for (const [, k = ''] of text.matchAll(/\bcodes::(k\w+)/g)) {
        const code = nativeConst.get(k);
        if (code === undefined) problems.push(`${file}: codes::${k} is not in ${NATIVE_HEADER}`);
        else {
          usedConst.add(k);
          add(code, file);
        }
      }
      continue;
    }
    for (const [, arg = ''] of text.matchAll(/(?<!function )\bruleCode\(([^)]*)\)/g)) {
      if (/^\s*\d+\s*$/.test(arg)) add(`ERR_CONDIS_E${Number(arg)}`, file);
      else problems.push(`${file}: ruleCode(${arg}) with a number this test cannot read; pass a literal`);
    }
    for (const [, name = ''] of text.matchAll(/\bCondisErrorCode\.([A-Z0-9_]+)/g)) {
      const code = (CondisErrorCode as Record<string, string | undefined>)[name];
      if (code === undefined) problems.push(`${file}: CondisErrorCode.${name} does not exist`);
      else add(code, file);
    }
    if (/\bringErrorCode\(/.test(text)) for (const c of RING_FAMILY) add(c, file);
  }
  for (const [k, code] of nativeConst) {
    if (!usedConst.has(k)) problems.push(`${NATIVE_HEADER}: ${k} (${code}) is used by no native .cc`);
  }
  return { codes, problems };
}

/** The README's "Error codes" table: code -> meaning (family rows expanded). */
function readmeTable(readme: string): Map<string, string> {
  const start = readme.indexOf('\n## Error codes\n');
  expect(start, 'README.md has a "## Error codes" section').toBeGreaterThan(0);
  const end = readme.indexOf('\n## ', start + 1);
  const section = readme.slice(start, end < 0 ? undefined : end);
  const rows = new Map<string, string>();
  for (const line of section.split('\n')) {
    const cells = line.match(/^\|\s*`([^`]+)`\s*\|\s*(.*?)\s*\|$/);
    if (!cells) continue;
    const [, first = '', meaning = ''] = cells;
    // Family rows: `ERR_CONDIS_RING_*` or `ERR_CONDIS_E<n>`, members as `SUFFIX` in the meaning.
    const family = first.match(/^(ERR_CONDIS_[A-Z_]*?)(\*|<n>)$/);
    if (family) {
      for (const [, member] of meaning.matchAll(/`([A-Z0-9_]+)`/g))
        rows.set(`${family[1]}${member}`, meaning);
    } else rows.set(first, meaning);
  }
  return rows;
}

const registry = new Map<string, string>(Object.entries(ErrorCodes));

describe('error codes: one vocabulary', () => {
  const files = sourceFiles();
  const read = (f: string): string => readFileSync(join(ROOT, f), 'utf8');
  const { codes: raised, problems } = scan(files, read);

  it('finds the raisers (the scan is not vacuous)', () => {
    expect(files).toContain('native/device.cc');
    expect(files).toContain('bin/condis.js');
    for (const c of [
      'ERR_CONDIS_INVALID_ARG',
      'ERR_CONDIS_E43',
      'ERR_CONDIS_RING_CHAIN_LOOP',
      'ERR_CONDIS_URING_LAYOUT',
    ])
      expect(raised.has(c), c).toBe(true);
    expect(raised.get('ERR_CONDIS_VCS_PRESENT')).toContain('lib/ndis/bindings.ts');
  });

  it('reads every code it meets', () => {
    expect(problems).toEqual([]);
  });

  it('every code raised is in the registry (lib/errors.ts ErrorCodes)', () => {
    const missing = [...raised]
      .filter(([c]) => !registry.has(c))
      .map(([c, where]) => `${c} (raised in ${[...where].join(', ')})`);
    expect(missing).toEqual([]);
  });

  it('every code in the registry is raised somewhere (no stale codes)', () => {
    const stale = [...registry.keys()].filter((c) => !raised.has(c) && !AWAITING_RAISER.includes(c));
    expect(stale).toEqual([]);
    const landed = AWAITING_RAISER.filter((c) => raised.has(c));
    expect(landed, 'now raised: remove them from AWAITING_RAISER in this test').toEqual([]);
  });

  it("the README's table lists exactly the registry, with the registry's meanings", () => {
    const table = readmeTable(read('README.md'));
    const notInReadme = [...raised.keys(), ...registry.keys()].filter((c) => !table.has(c));
    expect([...new Set(notInReadme)]).toEqual([]);
    expect([...table.keys()].filter((c) => !registry.has(c))).toEqual([]);
    // One-code rows say what the registry says (family rows list their members instead).
    for (const [code, meaning] of table) {
      if (!/^ERR_CONDIS_(RING_|E\d)/.test(code)) expect(meaning, code).toBe(registry.get(code));
    }
  });

  it('the RING family is derived from the shared RingError numbers', () => {
    const inRegistry = [...registry.keys()].filter(
      (c) => c.startsWith('ERR_CONDIS_RING_') && !c.includes('_USED_'),
    );
    expect(inRegistry.sort()).toEqual([...RING_FAMILY].sort());
  });

  it('a RingError number that names no reason maps to ERR_CONDIS_INTERNAL, not an unlisted code', () => {
    expect(ringErrorCode(RingError.ChainLoop)).toBe('ERR_CONDIS_RING_CHAIN_LOOP');
    expect(ringErrorCode(RingError.Ok)).toBe('ERR_CONDIS_INTERNAL');
    expect(ringErrorCode(99)).toBe('ERR_CONDIS_INTERNAL');
  });

  it("aborts are Node's own AbortError, not a code of ours", () => {
    expect(registry.has('ABORT_ERR')).toBe(false);
    expect(read('README.md')).toMatch(/AbortError.*`code: 'ABORT_ERR'`/);
  });

  it('every meaning is one sentence (no full stop inside, none at the end)', () => {
    for (const [code, meaning] of registry) {
      expect(meaning.length, code).toBeGreaterThan(10);
      expect(meaning, code).not.toMatch(/\.\s|\.$/);
    }
  });

  it('fails for real: a code the registry lacks, and a literal in native, are caught', () => {
    const fake = (f: string): string =>
      f === 'lib/bogus.ts'
        ? "throw new CondisError('ERR_CONDIS_BOGUS', 'x'); ruleCode(9999);"
        : f === 'native/bogus.cc'
          ? 'return Error::condis("ERR_CONDIS_INVALID_ARG", "x");'
          : read(f);
    const r = scan(['lib/bogus.ts', 'native/bogus.cc'], fake);
    expect(r.codes.get('ERR_CONDIS_BOGUS')).toEqual(new Set(['lib/bogus.ts']));
    expect(r.codes.has('ERR_CONDIS_E9999')).toBe(true);
    expect(registry.has('ERR_CONDIS_BOGUS')).toBe(false);
    expect(r.problems.join('\n')).toMatch(/native\/bogus\.cc: "ERR_CONDIS_INVALID_ARG" spelled as a literal/);
  });
});

describe('the one CondisError class', () => {
  it('the NDIS runtime raises it with the VC snapshot in err.vc and details.vc', () => {
    const vc = {
      handle: 0x10,
      slot: 1,
      activation: 'ACTIVE',
      call: 'NONE',
      txInMiniport: 2,
      rxHeld: 0,
      stopping: false,
    };
    const e = ndisError(CondisErrorCode.DRAIN_TIMEOUT, 'late', vc);
    expect(e).toBeInstanceOf(CondisError);
    expect(e.vc).toBe(vc);
    expect(e.details.vc).toBe(vc);
    expect(e.message).toBe('late [vc 1 (handle 0x10) A=ACTIVE C=NONE txInMiniport=2 rxHeld=0]');
    expect(new CondisError('ERR_CONDIS_INTERNAL', 'x').vc).toBeUndefined();
  });

  it('fromNative keeps the errno name in code only (no "ENOENT: ENOENT: ...")', () => {
    const n = Object.assign(new Error('cannot open /dev/net/tun: No such file or directory'), {
      code: 'ENOENT',
      errno: -2,
      syscall: 'open',
    });
    const e = fromNative(n) as CondisError;
    expect(e).toBeInstanceOf(CondisError);
    expect(e).toMatchObject({ code: 'ENOENT', errno: -2, syscall: 'open' });
    expect(e.message).not.toMatch(/ENOENT/);
    expect(e.cause).toBe(n);
  });
});
