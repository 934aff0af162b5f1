// The README's examples, run as a user runs them. Every block marked by the line
//   <!-- example: NAME (esm) -->            or (esm, cjs), (esm, root), (cjs)...
// right before a ```js fence is taken from README.md's exact text, written into a fresh project
// under the temp dir whose node_modules/condis-tap is a symlink to this package (so it loads the
// built dist/ through package.json, as an installed copy would), and run with `node`: as x.mjs
// for `esm`, and for `cjs` as x.cjs — verbatim if the block is marked cjs only, else in the
// CommonJS form the README states (imports become require, the rest goes inside an async
// function). Each run must exit 0 within the time limit and print every line the block promises
// in a `// prints: TEXT` comment. `root` blocks need a TAP: they run where this process may create
// one and must run under CI=true; elsewhere they are skipped with the reason.
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { hostToolsMissing, tapPrivilege } from '../helpers/privilege';

const ROOT = path.resolve(__dirname, '../..');
const README = path.join(ROOT, 'README.md');
/** Wall-clock limit of one example run (it is killed after it). */
const LIMIT_MS = 30_000;
/** The README keeps at least this many examples (the markers cannot silently get lost). */
const MIN_EXAMPLES = 3;

type Form = 'esm' | 'cjs' | 'root';

interface Example {
  name: string;
  forms: Set<Form>;
  code: string;
  /** README.md line of the marker (1-based), for messages. */
  line: number;
}

const MARKER = /^<!-- example: ([A-Za-z0-9_-]+) \(([a-z, ]+)\) -->$/;

/** Every marked block of `text`; throws on a marker that is not followed by a js block. */
function extractExamples(text: string): Example[] {
  const lines = text.split('\n');
  const out: Example[] = [];
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!;
    if (!line.startsWith('<!-- example:')) continue;
    const m = MARKER.exec(line.trimEnd());
    if (!m) throw new Error(`README.md:${i + 1}: malformed example marker: ${line}`);
    const forms = new Set(m[2]!.split(',').map((f) => f.trim()));
    for (const f of forms) {
      if (f !== 'esm' && f !== 'cjs' && f !== 'root')
        throw new Error(`README.md:${i + 1}: unknown form '${f}' (esm, cjs, root)`);
    }
    if (!forms.has('esm') && !forms.has('cjs'))
      throw new Error(`README.md:${i + 1}: example ${m[1]} says neither esm nor cjs`);
    if (lines[i + 1]?.trimEnd() !== '```js')
      throw new Error(`README.md:${i + 1}: example marker not followed by a \`\`\`js fence`);
    const end = lines.findIndex((l, k) => k > i + 1 && l.trimEnd() === '```');
    if (end < 0) throw new Error(`README.md:${i + 1}: example ${m[1]}: unterminated code block`);
    out.push({
      name: m[1]!,
      forms: forms as Set<Form>,
      code: `${lines.slice(i + 2, end).join('\n')}\n`,
      line: i + 1,
    });
    i = end;
  }
  return out;
}

/**
 * The CommonJS form of an ES-module example, by the rule the README states: each
 * `import { a, b } from 'm';` becomes `const { a, b } = require('m');` and the rest of the code
 * runs inside `(async () => { ... })()` (CommonJS has no top-level await). A rejection ends the
 * process with an error, as in the ESM form.
 */
function commonJsForm(code: string): string {
  const imports: string[] = [];
  const body = code.replace(
    /^import \{([^}]*)\} from '([^']+)';\n/gm,
    (_all, names: string, from: string) => {
      imports.push(`const {${names.replace(/\n/g, ' ').replace(/\s+/g, ' ')}} = require('${from}');`);
      return '';
    },
  );
  if (/^import /m.test(body))
    throw new Error('an import the CommonJS rule does not cover (use import { ... } from)');
  return `${imports.join('\n')}\n(async () => {\n${body}})().catch((e) => {\n  console.error(e);\n  process.exit(1);\n});\n`;
}

/** What the block promises to print: the text after each `// prints:` comment. */
function promisedLines(code: string): string[] {
  return [...code.matchAll(/\/\/ prints: (.+)$/gm)].map((m) => m[1]!.trim());
}

/** Why dist/ cannot be run as the package's entry points (missing or older than lib/), or null. */
function distProblem(): string | null {
  const pkg = JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8'));
  const entries = new Set<string>([pkg.main]);
  const walk = (v: unknown): void => {
    if (typeof v === 'string') {
      if (/\.(c|m)?js$/.test(v)) entries.add(v);
    } else if (v && typeof v === 'object') for (const x of Object.values(v)) walk(x);
  };
  walk(pkg.exports);
  for (const e of entries) {
    if (!fs.existsSync(path.join(ROOT, e))) return `${e} is missing`;
  }
  // A source newer than its compiled file: the examples would run stale code.
  const stale: string[] = [];
  const scan = (dir: string): void => {
    for (const d of fs.readdirSync(dir, { withFileTypes: true })) {
      const p = path.join(dir, d.name);
      if (d.isDirectory()) scan(p);
      else if (d.name.endsWith('.ts') && !d.name.endsWith('.d.ts')) {
        const js = path.join(ROOT, 'dist', path.relative(ROOT, p)).replace(/\.ts$/, '.js');
        if (!fs.existsSync(js) || fs.statSync(js).mtimeMs < fs.statSync(p).mtimeMs) stale.push(p);
      }
    }
  };
  scan(path.join(ROOT, 'lib'));
  if (stale.length > 0) return `dist/ is older than ${path.relative(ROOT, stale[0]!)}`;
  return null;
}

/** Why a `root` example cannot run here, or null. Under CI=true it must run: the reason is an error. */
function rootUnavailable(): string | null {
  const p = tapPrivilege();
  return p.ok ? hostToolsMissing() : p.why;
}

const examples = extractExamples(fs.readFileSync(README, 'utf8'));

describe('README examples', () => {
  let project = '';

  beforeAll(() => {
    const problem = distProblem();
    if (problem !== null)
      throw new Error(`the examples run the built package, but ${problem}: run \`npm run prepare\` first`);
    project = fs.mkdtempSync(path.join(os.tmpdir(), 'condis-readme-'));
    fs.writeFileSync(path.join(project, 'package.json'), '{ "private": true }\n');
    fs.mkdirSync(path.join(project, 'node_modules'));
    fs.symlinkSync(ROOT, path.join(project, 'node_modules', 'condis-tap'), 'dir');
  });

  afterAll(() => {
    // Removes the symlink, never what it points to.
    if (project) fs.rmSync(project, { recursive: true, force: true });
  });

  it(`marks at least ${MIN_EXAMPLES} runnable examples, each name once`, () => {
    expect(examples.length).toBeGreaterThanOrEqual(MIN_EXAMPLES);
    const names = examples.map((e) => e.name);
    expect(new Set(names).size).toBe(names.length);
  });

  const runs = examples.flatMap((ex) => {
    const forms: Array<'esm' | 'cjs'> = [];
    if (ex.forms.has('esm')) forms.push('esm');
    if (ex.forms.has('cjs')) forms.push('cjs');
    return forms.map((form) => ({ ex, form }));
  });

  it.each(runs.map((r) => [`${r.ex.name} as ${r.form === 'esm' ? 'ESM (.mjs)' : 'CommonJS (.cjs)'}`, r]))(
    '%s',
    (_title, { ex, form }) => {
      if (ex.forms.has('root')) {
        const why = rootUnavailable();
        if (why !== null) {
          if (process.env.CI === 'true')
            throw new Error(`README example ${ex.name} needs a TAP and must run in CI, but: ${why}`);
          console.warn(`[skip] README example ${ex.name}: needs root or CAP_NET_ADMIN (a TAP): ${why}`);
          return;
        }
      }
      const file = path.join(project, `${ex.name}.${form === 'esm' ? 'mjs' : 'cjs'}`);
      const code = form === 'cjs' && ex.forms.has('esm') ? commonJsForm(ex.code) : ex.code;
      fs.writeFileSync(file, code);
      const r = spawnSync(process.execPath, [file], {
        cwd: project,
        encoding: 'utf8',
        timeout: LIMIT_MS,
        killSignal: 'SIGKILL',
      });
      const where = `README.md:${ex.line} (${ex.name}, ${form})`;
      if (r.error || r.signal) {
        throw new Error(
          `${where}: did not end within ${LIMIT_MS / 1000} s (${r.error?.message ?? r.signal})\n${r.stdout}${r.stderr}`,
        );
      }
      expect(r.status, `${where} exited ${r.status}:\n${r.stdout}${r.stderr}`).toBe(0);
      for (const want of promisedLines(ex.code)) {
        expect(r.stdout, `${where} did not print "${want}"`).toContain(want);
      }
    },
    LIMIT_MS + 15_000,
  );
});

describe('README example extraction', () => {
  it('takes the block after each marker, verbatim, with its forms', () => {
    const text = [
      'intro',
      '<!-- example: one (esm, cjs) -->',
      '```js',
      "import { Ndis } from 'condis-tap';",
      'console.log(1); // prints: 1',
      '```',
      '```js',
      'not marked',
      '```',
      '<!-- example: two (esm, root) -->',
      '```js',
      'x',
      '```',
    ].join('\n');
    const ex = extractExamples(text);
    expect(ex.map((e) => [e.name, [...e.forms]])).toEqual([
      ['one', ['esm', 'cjs']],
      ['two', ['esm', 'root']],
    ]);
    expect(ex[0]!.code).toBe("import { Ndis } from 'condis-tap';\nconsole.log(1); // prints: 1\n");
    expect(promisedLines(ex[0]!.code)).toEqual(['1']);
  });

  it('refuses a marker without its js block, and an unknown form', () => {
    expect(() => extractExamples('<!-- example: a (esm) -->\n```ts\nx\n```')).toThrow(/not followed/);
    expect(() => extractExamples('<!-- example: a (esm, tsx) -->\n```js\nx\n```')).toThrow(/unknown form/);
  });

  it('turns imports into requires and wraps the rest for CommonJS', () => {
    const cjs = commonJsForm("import {\n  a,\n  b,\n} from 'condis-tap';\nawait a(b);\n");
    expect(cjs).toContain("const { a, b, } = require('condis-tap');");
    expect(cjs).toContain('(async () => {\nawait a(b);\n})()');
  });
});
