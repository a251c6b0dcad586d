import { Command } from 'commander';
import { resolveDaemonConfig, SETTINGS, type DaemonConfig, type Flags } from '../config.ts';
import { isCrissError } from '../errors.ts';
import { connectionFlags, examples } from './common.ts';
import { CliFailure, EXIT } from './exit.ts';

const PLACEHOLDER: Record<keyof DaemonConfig, string> = {
  host: '<host>',
  port: '<port>',
  dataDir: '<dir>',
  clustersDir: '<dir>',
  keysDir: '<dir>',
  logLevel: '<level>',
  gcGraceMs: '<ms>',
  gcIntervalMs: '<ms>',
  directIo: '<on|off>',
  password: '<password>',
  p2pHost: '<host>',
  p2pPort: '<port>',
  overlay: '<on|off>',
  serveRate: '<bytes/s>',
  bootstrap: '<multiaddrs>',
};

export function serveCommand(): Command {
  const cmd = new Command('serve')
    .summary('run the daemon (RESP on 127.0.0.1:11111)')
    .description(
      'Run the crisscross daemon in the foreground. Once it accepts connections it prints one line:\n' +
        '  crisscross VERSION listening on redis://HOST:PORT (data DIR)\n' +
        'SIGINT or SIGTERM stop it gracefully (in-flight commands finish, the store is closed); a second signal exits at once.\n' +
        'Every option can also come from its environment variable; a flag wins over the variable.',
    );
  for (const [key, s] of Object.entries(SETTINGS) as Array<[keyof DaemonConfig, (typeof SETTINGS)[keyof DaemonConfig]]>) {
    const origin = s.default !== undefined ? `env ${s.env}, default ${s.default}` : `env ${s.env}`;
    cmd.option(`--${s.flag} ${PLACEHOLDER[key]}`, `${s.description} (${origin})`);
  }
  cmd.action(async (flags: Flags, self: Command) => {
    let config: DaemonConfig;
    try {
      config = resolveDaemonConfig({ ...flags, ...connectionFlags(self) });
    } catch (e) {
      if (isCrissError(e)) throw new CliFailure(EXIT.usage, e.message);
      throw e;
    }
    // Loaded only here, so client subcommands start without the store and server code.
    const { runDaemon } = await import('../daemon.ts');
    try {
      await runDaemon(config);
    } catch (e) {
      throw new CliFailure(EXIT.server, `cannot start: ${(e as Error).message}`);
    }
  });
  return examples(cmd, [
    'crisscross serve',
    'crisscross serve --port 6400 --data-dir /var/lib/crisscross --log-level info',
    'CRISSCROSS_PORT=6400 CRISSCROSS_PASSWORD=s3cret crisscross serve',
  ]);
}
