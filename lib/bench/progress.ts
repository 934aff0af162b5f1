/**
 * A one-line progress bar for long benchmarks. It draws only when the stream is a terminal: piped
 * or redirected output (CI logs, `> file`, `| jq`) must stay clean, so there it does nothing.
 * Redraws are throttled (at most every 100 ms) so that drawing never competes with the
 * measurement; `done()` erases the line before the report is printed.
 */
export class ProgressBar {
  private readonly enabled: boolean;
  private lastDraw = 0;
  private drawn = false;

  constructor(
    private readonly total: number,
    private readonly stream: NodeJS.WriteStream = process.stdout,
    private readonly width = 30,
  ) {
    this.enabled = stream.isTTY === true && total > 0;
  }

  /** Shows `done` of `total`, with a label; cheap when throttled or disabled. */
  update(done: number, label = ''): void {
    if (!this.enabled) return;
    const now = Date.now();
    if (now - this.lastDraw < 100 && done < this.total) return;
    this.lastDraw = now;
    const frac = Math.min(1, done / this.total);
    const full = Math.round(frac * this.width);
    const bar = `${'#'.repeat(full)}${'.'.repeat(this.width - full)}`;
    const pct = `${Math.floor(frac * 100)}`.padStart(3);
    this.stream.write(`\r\x1b[2K[${bar}] ${pct}% ${label}`);
    this.drawn = true;
  }

  /** Erases the bar. */
  done(): void {
    if (this.enabled && this.drawn) this.stream.write('\r\x1b[2K');
    this.drawn = false;
  }
}

/**
 * The two callbacks a long benchmark's CLI hands its runner: `log` prints a line on stderr under
 * the command's name (the bar erased first); `onProgress` moves the bar, and off a terminal (where
 * the bar draws nothing) prints each step's label as a line instead.
 */
export function progressLines(
  command: string,
  bar: ProgressBar,
): { log: (line: string) => void; onProgress: (done: number, total: number, label: string) => void } {
  return {
    log: (line) => {
      bar.done();
      process.stderr.write(`${command}: ${line}\n`);
    },
    onProgress: (done, total, label) => {
      if (!process.stderr.isTTY) process.stderr.write(`${command}: ${label}\n`);
      bar.update(done / total, label);
    },
  };
}
