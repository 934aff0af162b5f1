/** Plain-text tables and number formatting for benchmark reports. */

export type Align = 'left' | 'right';

/**
 * Renders rows as aligned columns separated by two spaces, with a header and a dashed rule.
 * `align[k]` defaults to 'right' for columns whose cells all look numeric, else 'left'.
 */
export function formatTable(
  headers: readonly string[],
  rows: readonly (readonly string[])[],
  align?: readonly Align[],
): string {
  const cols = headers.length;
  const width = headers.map((h, k) => Math.max(h.length, ...rows.map((r) => (r[k] ?? '').length)));
  const numeric = (k: number) => rows.every((r) => /^[\s\d.,%x+-]*$|^-$|^n\/a$/.test(r[k] ?? ''));
  const al = headers.map((_, k) => align?.[k] ?? (numeric(k) ? 'right' : 'left'));
  const line = (cells: readonly string[]) =>
    cells
      .slice(0, cols)
      .map((c, k) => (al[k] === 'right' ? c.padStart(width[k]!) : c.padEnd(width[k]!)))
      .join('  ')
      .trimEnd();
  const out = [line(headers), width.map((w) => '-'.repeat(w)).join('  ')];
  for (const r of rows) out.push(line(headers.map((_, k) => r[k] ?? '')));
  return out.join('\n');
}

/** 1234567.8 -> "1,234,568"; null/NaN -> "-". */
export function fmtInt(v: number | null | undefined): string {
  if (v == null || !Number.isFinite(v)) return '-';
  return Math.round(v).toLocaleString('en-US');
}

/** A ratio as "1.23x"; null -> "-". */
export function fmtRatio(v: number | null | undefined, digits = 2): string {
  if (v == null || !Number.isFinite(v)) return '-';
  return `${v.toFixed(digits)}x`;
}

/** Bytes as "12.3 KiB" / "1.20 MiB" / "512 B". */
export function fmtBytes(v: number): string {
  const a = Math.abs(v);
  if (a < 1024) return `${v} B`;
  if (a < 1024 * 1024) return `${(v / 1024).toFixed(1)} KiB`;
  return `${(v / 1024 / 1024).toFixed(2)} MiB`;
}
