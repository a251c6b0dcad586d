import { CommanderError } from 'commander';
import { CliFailure, EXIT } from './exit.ts';
import { buildProgram } from './program.ts';

// A reader that goes away (`crisscross range … | head`) is a normal end, not a crash.
process.stdout.on('error', (e: NodeJS.ErrnoException) => {
  if (e.code !== 'EPIPE') throw e;
  process.exit(process.exitCode ?? EXIT.ok);
});

try {
  await buildProgram().parseAsync();
} catch (e) {
  if (e instanceof CommanderError) {
    // Commander already printed the message or the help.
    process.exitCode = e.exitCode === 0 ? EXIT.ok : EXIT.usage;
  } else if (e instanceof CliFailure) {
    if (e.message) process.stderr.write(`crisscross: ${e.message}\n`);
    process.exitCode = e.exitCode;
  } else {
    process.stderr.write(`crisscross: ${(e as Error).stack ?? String(e)}\n`);
    process.exitCode = EXIT.server;
  }
}
