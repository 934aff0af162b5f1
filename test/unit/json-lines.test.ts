/**
 * test/helpers/json-lines.ts: a JSON-lines file read while its writer is in the middle of a line
 * (a write straddling a page boundary shows its first page first) yields the complete lines only;
 * calls.test.ts's event polls once threw on such a piece.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { completeLines, readJsonLines } from '../helpers/json-lines';

describe('readJsonLines', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), `jsonl${process.pid}-`));
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('leaves out a last line without its newline (a line still being written)', () => {
    const f = path.join(dir, 'h1.events');
    // What a read saw once: the file cut at 4096 bytes, 37 bytes into the line being written.
    fs.writeFileSync(f, '{"event":"ready"}\nnot json\n{"event":"callConnected","call":18,"v');
    expect(readJsonLines(f)).toEqual([{ event: 'ready' }]);
    fs.appendFileSync(f, 'id":3003}\n');
    expect(readJsonLines(f)).toEqual([{ event: 'ready' }, { event: 'callConnected', call: 18, vid: 3003 }]);
  });

  it('has nothing for a missing file, an empty one, or one whose first line is not complete', () => {
    expect(readJsonLines(path.join(dir, 'none'))).toEqual([]);
    expect(completeLines('')).toEqual([]);
    expect(completeLines('{"event":"rea')).toEqual([]);
    expect(completeLines('a\n\nb\n')).toEqual(['a', '', 'b']);
  });
});
