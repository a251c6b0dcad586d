import { cleanupDaemons, startDaemon } from '../harness/daemon.ts';
import { runFile } from './sqllogictest.ts';

/**
 * `npm run sqllogictest [files…]`: the whole select1–select5 corpus through a real daemon's SQL
 * and SQLREAD commands. Lists every failure, prints the pass rate, exits 1 below 99 %.
 */
const files = process.argv.length > 2 ? process.argv.slice(2) : ['select1.test', 'select2.test', 'select3.test', 'select4.test', 'select5.test'];
const daemon = await startDaemon();
let queries = 0;
let passed = 0;
try {
  for (const file of files) {
    const t0 = performance.now();
    const r = await runFile(daemon.redis(), file);
    queries += r.queries;
    passed += r.passed;
    for (const f of r.failures) console.log(`FAIL ${f}`);
    console.log(`${file}: ${r.passed}/${r.queries} queries passed, ${r.statementFailures} statement failures, ${((performance.now() - t0) / 1000).toFixed(1)} s`);
  }
} finally {
  await cleanupDaemons();
}
const rate = queries === 0 ? 0 : (100 * passed) / queries;
console.log(`sqllogictest: ${passed}/${queries} queries passed (${rate.toFixed(2)} %)`);
process.exitCode = rate >= 99 ? 0 : 1;
