/**
 * A hand-written SVG line chart: log-scaled axes, grid, labelled ticks, a legend. No dependency:
 * the benchmark report must open in any browser and diff as text.
 *
 * The x axis is log10(1 + x) so that a depth of 0 has a place on a log axis (ticks are labelled
 * with the real values). The y axis is a plain log10 over decades that cover every point.
 */

export interface Series {
  name: string;
  /** [x, y]; points with a non-finite or non-positive y are skipped (nothing to draw on a log axis). */
  points: ReadonlyArray<readonly [number, number]>;
  color: string;
  /** SVG stroke-dasharray, e.g. '6 4' (dashed) or '2 3' (dotted); solid if absent. */
  dash?: string;
}

export interface ChartOptions {
  title: string;
  subtitle?: string;
  xLabel: string;
  yLabel: string;
  /** Values to label on the x axis (default: every x of every series). */
  xTicks?: number[];
  width?: number;
  height?: number;
}

const esc = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
const fx = (v: number) => Math.log10(1 + v);

/** Tick label for a latency: 0.5, 2, 10, 1k, 10k... */
function num(v: number): string {
  if (v >= 1e6) return `${v / 1e6}M`;
  if (v >= 1e3) return `${v / 1e3}k`;
  return `${v}`;
}

export function lineChartSvg(series: readonly Series[], o: ChartOptions): string {
  const W = o.width ?? 900;
  const H = o.height ?? 520;
  const m = { left: 80, right: 230, top: 64, bottom: 64 };
  const pw = W - m.left - m.right;
  const ph = H - m.top - m.bottom;
  const pts = series.flatMap((s) => s.points.filter(([, y]) => Number.isFinite(y) && y > 0));
  const xs = o.xTicks ?? [...new Set(pts.map(([x]) => x))].sort((a, b) => a - b);
  const xMin = fx(Math.min(...xs, ...pts.map(([x]) => x)));
  const xMax = fx(Math.max(...xs, ...pts.map(([x]) => x)));
  const ys = pts.map(([, y]) => y);
  const yLo = Math.floor(Math.log10(ys.length ? Math.min(...ys) : 1));
  let yHi = Math.ceil(Math.log10(ys.length ? Math.max(...ys) : 10));
  if (yHi <= yLo) yHi = yLo + 1;
  const X = (v: number) => m.left + (xMax === xMin ? pw / 2 : ((fx(v) - xMin) / (xMax - xMin)) * pw);
  const Y = (v: number) => m.top + ph - ((Math.log10(v) - yLo) / (yHi - yLo)) * ph;
  const out: string[] = [];
  out.push(
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="sans-serif" font-size="12">`,
    `<rect width="${W}" height="${H}" fill="white"/>`,
    `<text x="${m.left}" y="26" font-size="16" font-weight="bold">${esc(o.title)}</text>`,
  );
  if (o.subtitle) out.push(`<text x="${m.left}" y="46" fill="#555">${esc(o.subtitle)}</text>`);
  // Horizontal grid: every decade labelled, 2x and 5x lines faint.
  for (let d = yLo; d <= yHi; d++) {
    const v = 10 ** d;
    out.push(
      `<line x1="${m.left}" x2="${m.left + pw}" y1="${Y(v).toFixed(1)}" y2="${Y(v).toFixed(1)}" stroke="#ccc"/>`,
      `<text x="${m.left - 8}" y="${(Y(v) + 4).toFixed(1)}" text-anchor="end">${num(v)}</text>`,
    );
    if (d < yHi) {
      for (const k of [2, 5]) {
        const y = Y(k * v).toFixed(1);
        out.push(`<line x1="${m.left}" x2="${m.left + pw}" y1="${y}" y2="${y}" stroke="#eee"/>`);
      }
    }
  }
  for (const x of xs) {
    const px = X(x).toFixed(1);
    out.push(
      `<line x1="${px}" x2="${px}" y1="${m.top}" y2="${m.top + ph}" stroke="#eee"/>`,
      `<text x="${px}" y="${m.top + ph + 18}" text-anchor="middle">${x}</text>`,
    );
  }
  out.push(
    `<rect x="${m.left}" y="${m.top}" width="${pw}" height="${ph}" fill="none" stroke="#333"/>`,
    `<text x="${m.left + pw / 2}" y="${H - 18}" text-anchor="middle">${esc(o.xLabel)}</text>`,
    `<text transform="translate(22 ${m.top + ph / 2}) rotate(-90)" text-anchor="middle">${esc(o.yLabel)}</text>`,
  );
  series.forEach((s, i) => {
    const ok = s.points.filter(([, y]) => Number.isFinite(y) && y > 0);
    const dash = s.dash ? ` stroke-dasharray="${s.dash}"` : '';
    if (ok.length > 0) {
      const d = ok
        .map(([x, y], k) => `${k === 0 ? 'M' : 'L'}${X(x).toFixed(1)},${Y(y).toFixed(1)}`)
        .join(' ');
      out.push(`<path d="${d}" fill="none" stroke="${s.color}" stroke-width="2"${dash}/>`);
      for (const [x, y] of ok) {
        out.push(`<circle cx="${X(x).toFixed(1)}" cy="${Y(y).toFixed(1)}" r="3" fill="${s.color}"/>`);
      }
    }
    // Legend, right of the plot.
    const ly = m.top + 10 + i * 20;
    const lx = m.left + pw + 16;
    out.push(
      `<line x1="${lx}" x2="${lx + 28}" y1="${ly}" y2="${ly}" stroke="${s.color}" stroke-width="2"${dash}/>`,
      `<text x="${lx + 36}" y="${ly + 4}">${esc(s.name)}</text>`,
    );
  });
  out.push('</svg>');
  return `${out.join('\n')}\n`;
}

/** One group of bars (a benchmark path): one value per series, null for none. */
export interface BarGroup {
  name: string;
  values: readonly (number | null)[];
}

export interface BarChartOptions {
  title: string;
  subtitle?: string;
  yLabel: string;
  /** The series' names and colours, in the order of each group's values. */
  series: readonly { name: string; color: string }[];
  width?: number;
  height?: number;
}

/** A grouped bar chart on a linear axis from 0, each bar labelled with its value. */
export function barChartSvg(groups: readonly BarGroup[], o: BarChartOptions): string {
  const W = o.width ?? Math.max(600, 140 + groups.length * 120 + 200);
  const H = o.height ?? 480;
  const m = { left: 80, right: 200, top: 64, bottom: 90 };
  const pw = W - m.left - m.right;
  const ph = H - m.top - m.bottom;
  const vals = groups.flatMap((g) => g.values.filter((v): v is number => v !== null && Number.isFinite(v)));
  const top = niceCeil(vals.length ? Math.max(...vals) : 1);
  const Y = (v: number) => m.top + ph - (v / top) * ph;
  const slot = pw / Math.max(1, groups.length);
  const bw = (slot * 0.8) / Math.max(1, o.series.length);
  const out: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="sans-serif" font-size="12">`,
    `<rect width="${W}" height="${H}" fill="white"/>`,
    `<text x="${m.left}" y="26" font-size="16" font-weight="bold">${esc(o.title)}</text>`,
  ];
  if (o.subtitle) out.push(`<text x="${m.left}" y="46" fill="#555">${esc(o.subtitle)}</text>`);
  for (let k = 0; k <= 5; k++) {
    const v = (top * k) / 5;
    const y = Y(v).toFixed(1);
    out.push(
      `<line x1="${m.left}" x2="${m.left + pw}" y1="${y}" y2="${y}" stroke="#ddd"/>`,
      `<text x="${m.left - 8}" y="${(Y(v) + 4).toFixed(1)}" text-anchor="end">${+v.toPrecision(3)}</text>`,
    );
  }
  groups.forEach((g, i) => {
    const x0 = m.left + i * slot + slot * 0.1;
    g.values.forEach((v, s) => {
      if (v === null || !Number.isFinite(v)) return;
      const x = x0 + s * bw;
      out.push(
        `<rect x="${x.toFixed(1)}" y="${Y(v).toFixed(1)}" width="${(bw - 2).toFixed(1)}" height="${(m.top + ph - Y(v)).toFixed(1)}" fill="${o.series[s]?.color ?? '#888'}"/>`,
        `<text x="${(x + bw / 2).toFixed(1)}" y="${(Y(v) - 4).toFixed(1)}" text-anchor="middle" font-size="10">${+v.toPrecision(3)}</text>`,
      );
    });
    const cx = (m.left + i * slot + slot / 2).toFixed(1);
    const cy = m.top + ph + 14;
    out.push(`<text transform="translate(${cx} ${cy}) rotate(30)" text-anchor="start">${esc(g.name)}</text>`);
  });
  out.push(
    `<rect x="${m.left}" y="${m.top}" width="${pw}" height="${ph}" fill="none" stroke="#333"/>`,
    `<text transform="translate(22 ${m.top + ph / 2}) rotate(-90)" text-anchor="middle">${esc(o.yLabel)}</text>`,
  );
  o.series.forEach((s, i) => {
    const lx = m.left + pw + 16;
    const ly = m.top + 10 + i * 20;
    out.push(
      `<rect x="${lx}" y="${ly - 6}" width="18" height="12" fill="${s.color}"/>`,
      `<text x="${lx + 26}" y="${ly + 4}">${esc(s.name)}</text>`,
    );
  });
  out.push('</svg>');
  return `${out.join('\n')}\n`;
}

/** The smallest 1, 2 or 5 times a power of ten at or above v (the bar chart's top). */
function niceCeil(v: number): number {
  if (!(v > 0)) return 1;
  const d = 10 ** Math.floor(Math.log10(v));
  for (const k of [1, 2, 5, 10]) if (k * d >= v) return k * d;
  return 10 * d;
}
