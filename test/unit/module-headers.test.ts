/**
 * Every module under lib/ opens with a comment saying what it is (DESIGN "Rules of the house",
 * issue 10 point 6): a newcomer reads the top of any file and knows its concern and its layer.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';

const LIB = path.join(__dirname, '../../lib');

function tsFiles(dir: string): string[] {
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) return tsFiles(p);
    return e.name.endsWith('.ts') ? [p] : [];
  });
}

describe('module headers', () => {
  it('every lib/ module opens with a comment of at least a sentence', () => {
    const bare = tsFiles(LIB).filter((f) => {
      const text = fs.readFileSync(f, 'utf8').trimStart();
      const m = /^(\/\*\*?[\s\S]*?\*\/|(?:\/\/.*\n)+)/.exec(text);
      return !m || m[0].replace(/[/*\s]+/g, ' ').trim().length < 40;
    });
    expect(bare.map((f) => path.relative(LIB, f))).toEqual([]);
  });
});
