import { describe, expect, it } from 'vitest';
import { formatBytes, formatDuration, renderProgress, startProgress, type ProgressStream } from '../../src/cli/progress.ts';

const MiB = 1024 * 1024;

describe('the progress line', () => {
  it('formats sizes in binary units and durations as m:ss or h:mm:ss', () => {
    expect([0, 1023, 1024, 1536, 5 * MiB, 3 * 1024 * MiB].map(formatBytes)).toEqual(['0 B', '1023 B', '1.0 KiB', '1.5 KiB', '5.0 MiB', '3.0 GiB']);
    expect([0, 0.2, 59, 61, 3600, 3725].map(formatDuration)).toEqual(['0:00', '0:01', '0:59', '1:01', '1:00:00', '1:02:05']);
  });

  it('shows bar, percentage, bytes, rate and ETA in exactly the terminal width less one', () => {
    const line = renderProgress({ label: 'big.iso', done: 50 * MiB, total: 200 * MiB, elapsedMs: 2000, columns: 100 });
    expect(line).toMatch(/^big\.iso \[#+ +\]  25%  50\.0 MiB \/ 200\.0 MiB  25\.0 MiB\/s  ETA 0:06$/);
    expect(line).toHaveLength(99);
    const bar = /\[(#+)( +)\]/.exec(line)!;
    expect(bar[1]!.length / (bar[1]!.length + bar[2]!.length)).toBeCloseTo(0.25, 1);
  });

  it('has no rate or ETA before there is enough to measure', () => {
    expect(renderProgress({ label: 'f', done: MiB, total: 2 * MiB, elapsedMs: 10, columns: 80 })).toMatch(/ 50%  1\.0 MiB \/ 2\.0 MiB  --\/s  ETA --:--$/);
  });

  it('is full at the end and for an empty file', () => {
    expect(renderProgress({ label: 'f', done: 7, total: 7, elapsedMs: 1000, columns: 60 })).toMatch(/\[#+\] 100%  7 B \/ 7 B  7 B\/s  ETA 0:00$/);
    expect(renderProgress({ label: 'f', done: 0, total: 0, elapsedMs: 0, columns: 60 })).toMatch(/\[#+\] 100%/);
  });

  it('without a known total shows bytes and rate only', () => {
    expect(renderProgress({ label: 'stdin', done: 3 * MiB, total: undefined, elapsedMs: 1000, columns: 80 })).toBe('stdin 3.0 MiB  3.0 MiB/s');
  });

  it('shortens a long label from the left and drops the bar on a narrow terminal', () => {
    const label = `${'deep/'.repeat(30)}file.bin`;
    const wide = renderProgress({ label, done: 1, total: 2, elapsedMs: 1000, columns: 120 });
    expect(wide).toMatch(/^…[a-z/]*file\.bin \[/);
    expect(wide).toHaveLength(119);
    const narrow = renderProgress({ label, done: 1, total: 2, elapsedMs: 1000, columns: 40 });
    expect(narrow).not.toContain('[');
    expect(narrow.length).toBeLessThanOrEqual(39);
  });
});

describe('startProgress', () => {
  function terminal(isTTY: boolean): ProgressStream & { out: string } {
    return {
      isTTY,
      columns: 80,
      out: '',
      write(text) {
        this.out += text;
        return true;
      },
    };
  }

  it('assumes 80 columns on a pseudo-terminal that reports none', () => {
    const stream = { ...terminal(true), columns: 0 };
    startProgress('f', 10, stream, () => 0).update(5);
    expect(stream.out).toMatch(/^\r.{79}\x1b\[K$/);
  });

  it('writes nothing when stderr is not a terminal', () => {
    const stream = terminal(false);
    const p = startProgress('f', 10, stream);
    p.update(5);
    p.finish();
    expect(stream.out).toBe('');
  });

  it('redraws in place at most every 100 ms of its clock and clears the line at the end', () => {
    const stream = terminal(true);
    let clock = 0;
    const p = startProgress('f', 100, stream, () => clock);
    p.update(10);
    clock = 50;
    p.update(20);
    clock = 100;
    p.update(30);
    p.finish();
    const draws = stream.out.split('\r').filter(Boolean);
    expect(draws).toHaveLength(3);
    expect(draws[0]).toMatch(/ 10% .*\x1b\[K$/);
    expect(draws[1]).toMatch(/ 30% .*\x1b\[K$/);
    expect(draws[2]).toBe('\x1b[K');
  });
});
