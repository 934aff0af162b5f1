/**
 * Reading a JSON-lines file that another process is still appending to (a cluster node's
 * events file, `<host>.events`): only the lines already ended by their newline count.
 *
 * Why not every line: the writer puts each line out with one write(2), but a write is not atomic
 * for a reader of a regular file. One that straddles a 4 KiB page boundary becomes visible page
 * by page (the page cache grows the file's size after each page it copies), so a read in between
 * ends in the first part of the line, e.g. `{"event":"callConnected","call":18,"v`. Parsed, that
 * piece throws (SyntaxError: Unterminated string in JSON) out of the poll waiting for the very
 * event being written. Its newline comes in the same write as the rest of it, so a piece
 * without one is exactly such a line in progress: the next read sees it whole.
 */
import * as fs from 'node:fs';

/** The complete lines of `text` (each ended by '\n'; a last piece without one is left out). */
export function completeLines(text: string): string[] {
  const end = text.lastIndexOf('\n');
  return end < 0 ? [] : text.slice(0, end).split('\n');
}

/** The JSON objects of `file`'s complete lines that start with '{' ([] while the file is missing). */
export function readJsonLines<T = Record<string, unknown>>(file: string): T[] {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch {
    return [];
  }
  return completeLines(text)
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l) as T);
}
