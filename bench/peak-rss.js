import { writeFileSync } from 'node:fs';

/**
 * Preloaded into a client whose peak RSS the bench wants (`node --import bench/peak-rss.js …`):
 * at exit it writes getrusage's high-water mark, in bytes, to $BENCH_PEAK_RSS_FILE. The parent
 * cannot read it afterwards: /proc/<pid>/status of an exited child no longer has VmHWM, and
 * the CLI under test must not need code of the bench's own.
 */
const file = process.env.BENCH_PEAK_RSS_FILE;
if (file !== undefined && file !== '') {
  process.on('exit', () => writeFileSync(file, String(process.resourceUsage().maxRSS * 1024)));
}
