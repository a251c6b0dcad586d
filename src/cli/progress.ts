/** What one progress line shows; `total` is undefined when the size is not known (a pipe). */
export interface ProgressState {
  label: string;
  done: number;
  total: number | undefined;
  elapsedMs: number;
  /** Terminal width: the line never wraps, since a wrapped line cannot be redrawn with \r. */
  columns: number;
}

/** Below this, a rate is mostly noise from the first piece's timing. */
const MIN_RATE_MS = 500;
const REDRAW_MS = 100;
const BAR_MIN = 10;
const UNITS = ['B', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB'];

export function formatBytes(n: number): string {
  let unit = 0;
  let v = n;
  while (v >= 1024 && unit < UNITS.length - 1) {
    v /= 1024;
    unit++;
  }
  return unit === 0 ? `${n} B` : `${v.toFixed(1)} ${UNITS[unit]}`;
}

export function formatDuration(seconds: number): string {
  const s = Math.ceil(seconds);
  const hh = Math.floor(s / 3600);
  const mm = Math.floor((s % 3600) / 60);
  const ss = String(s % 60).padStart(2, '0');
  return hh > 0 ? `${hh}:${String(mm).padStart(2, '0')}:${ss}` : `${mm}:${ss}`;
}

/** The progress line, exactly `columns` wide or shorter: label, bar and percentage, bytes, rate, ETA. */
export function renderProgress(state: ProgressState): string {
  const { done, total, elapsedMs } = state;
  const rate = elapsedMs >= MIN_RATE_MS ? (done * 1000) / elapsedMs : undefined;
  const rateText = rate === undefined ? '--/s' : `${formatBytes(Math.round(rate))}/s`;
  let stats: string;
  let fraction: number | undefined;
  if (total === undefined) {
    stats = `${formatBytes(done)}  ${rateText}`;
  } else {
    fraction = total === 0 ? 1 : Math.min(1, done / total);
    const eta = rate === undefined || rate === 0 ? '--:--' : formatDuration(Math.max(0, total - done) / rate);
    stats = `${String(Math.floor(fraction * 100)).padStart(3)}%  ${formatBytes(done)} / ${formatBytes(total)}  ${rateText}  ETA ${eta}`;
  }
  const maxLabel = Math.max(8, Math.floor(state.columns / 3));
  const label = state.label.length > maxLabel ? `…${state.label.slice(-(maxLabel - 1))}` : state.label;
  // The last column stays empty: some terminals wrap as soon as it is written.
  const width = state.columns - 1;
  const barWidth = width - label.length - stats.length - 4;
  if (fraction === undefined || barWidth < BAR_MIN) return `${label} ${stats}`.slice(0, width);
  const filled = Math.round(fraction * barWidth);
  return `${label} [${'#'.repeat(filled)}${' '.repeat(barWidth - filled)}] ${stats}`;
}

/** Where the line goes: process.stderr, or anything shaped like it. */
export interface ProgressStream {
  isTTY?: boolean;
  /** 0 or absent on a pseudo-terminal that reports no size: 80 is assumed. */
  columns?: number;
  write(text: string): boolean;
}

export interface Progress {
  /** Redraws at most every REDRAW_MS; `final` draws regardless (the last figure must be shown). */
  update(done: number, final?: boolean): void;
  /** Clears the line, so the command's own output starts on a clean line. */
  finish(): void;
}

const SILENT: Progress = { update() {}, finish() {} };

/**
 * A progress line on stderr, only when stderr is a terminal: a pipe or a log file gets nothing,
 * so scripts see only the command's own output. Redraws at most every REDRAW_MS.
 */
export function startProgress(label: string, total: number | undefined, stream: ProgressStream = process.stderr, now: () => number = Date.now): Progress {
  if (!stream.isTTY) return SILENT;
  const started = now();
  let lastDraw = -Infinity;
  let drawn = false;
  const draw = (done: number): void => {
    lastDraw = now();
    drawn = true;
    stream.write(`\r${renderProgress({ label, done, total, elapsedMs: lastDraw - started, columns: stream.columns || 80 })}\x1b[K`);
  };
  return {
    update(done, final = false) {
      if (final || now() - lastDraw >= REDRAW_MS) draw(done);
    },
    finish() {
      if (drawn) stream.write('\r\x1b[K');
    },
  };
}
