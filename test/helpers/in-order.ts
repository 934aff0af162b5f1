/**
 * Whether `names` occur in `seq` in this order, not necessarily adjacent: each at or after the
 * one before. `matches(entry, name)` says what occurring means (default: equal).
 */
export function inOrder(
  seq: readonly string[],
  names: readonly string[],
  matches: (entry: string, name: string) => boolean = (e, n) => e === n,
): boolean {
  let at = 0;
  for (const n of names) {
    let i = at;
    while (i < seq.length && !matches(seq[i]!, n)) i++;
    if (i === seq.length) return false;
    at = i + 1;
  }
  return true;
}
