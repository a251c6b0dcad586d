import { mkdir } from 'node:fs/promises';
import { constants } from 'node:os';
import { pino, type Logger } from 'pino';
import { buildCommands } from './commands/index.ts';
import { packageVersion, type DaemonConfig } from './config.ts';
import { Collector } from './gc/collector.ts';
import { JobAnnouncements } from './jobs/announce.ts';
import { JobQueues } from './jobs/queue.ts';
import { RemoteJobs } from './jobs/remote.ts';
import { Network } from './net/network.ts';
import { PushHost } from './net/push-transfer.ts';
import { Broker } from './pubsub/broker.ts';
import { StreamHub } from './pubsub/stream.ts';
import { RespServer } from './resp/server.ts';
import { openStore } from './store/index.ts';

export interface Daemon {
  readonly address: { host: string; port: number };
  /** Stop accepting, let in-flight commands finish, close the store. Safe to call twice. */
  close(): Promise<void>;
}

/** pino to stderr, synchronously: stdout carries the ready line, and a crash must not lose its last words. */
export function createLogger(level: DaemonConfig['logLevel']): Logger {
  return pino({ name: 'crisscross', level }, pino.destination({ dest: 2, sync: true }));
}

/** Open the store and start serving RESP; resolves once the port accepts connections. */
export async function startDaemon(config: DaemonConfig, logger: Logger = createLogger(config.logLevel)): Promise<Daemon> {
  await Promise.all([
    mkdir(config.dataDir, { recursive: true }),
    mkdir(config.clustersDir, { recursive: true }),
    // Key pairs are secrets: a fresh directory is readable by its owner only.
    mkdir(config.keysDir, { recursive: true, mode: 0o700 }),
  ]);
  const store = await openStore(config.dataDir, { logger: logger.child({ module: 'store' }), directIo: config.directIo });
  const collector = new Collector(store, { graceMs: config.gcGraceMs, intervalMs: config.gcIntervalMs, logger: logger.child({ module: 'gc' }) });
  let server: RespServer;
  let address: Daemon['address'];
  let net: Network | undefined;
  const broker = new Broker();
  const hub = new StreamHub(logger.child({ module: 'streams' }));
  const pubsub = { deliver: (channel: Uint8Array, payload: Uint8Array) => void broker.publish(channel, payload), hub };
  let jobAnnouncements: JobAnnouncements | undefined;
  const jobs = new JobQueues();
  const remoteJobs = new RemoteJobs(jobs, logger.child({ module: 'jobs' }));
  try {
    const netLogger = logger.child({ module: 'net' });
    net = await Network.start({
      dataDir: config.dataDir, clustersDir: config.clustersDir, keysDir: config.keysDir, p2pHost: config.p2pHost, p2pPort: config.p2pPort,
      overlay: config.overlay, bootstrap: config.bootstrap, serveRate: config.serveRate, store, logger: netLogger,
      pushHost: (n) => new PushHost(n, store, netLogger),
      pubsub,
      jobs: remoteJobs,
    });
    jobAnnouncements = await JobAnnouncements.open(config.dataDir, net, logger.child({ module: 'jobs' }));
    remoteJobs.attach(net, jobAnnouncements);
    const { dispatcher, info } = buildCommands({ store, collector, logger, net, broker, hub, jobs, remoteJobs });
    server = new RespServer({
      host: config.host,
      port: config.port,
      ...(config.password !== undefined ? { password: config.password } : {}),
      dispatcher,
      logger: logger.child({ module: 'resp' }),
      info,
    });
    address = await server.listen();
    collector.start();
  } catch (e) {
    jobAnnouncements?.stop();
    await net?.stop();
    await collector.stop();
    await store.close();
    throw e;
  }
  const network = net;
  let closing: Promise<void> | undefined;
  return {
    address,
    close() {
      closing ??= (async () => {
        // A collection in progress stops at its next batch, so shutdown never waits for a sweep.
        await collector.stop();
        await server.close();
        jobAnnouncements?.stop();
        await network.stop();
        await store.close();
        logger.info('closed');
      })();
      return closing;
    },
  };
}

function url(address: Daemon['address']): string {
  const host = address.host.includes(':') ? `[${address.host}]` : address.host;
  return `redis://${host}:${address.port}`;
}

/**
 * `crisscross serve`: start, announce readiness with one stdout line (scripts and the test
 * harness wait for it), and shut down gracefully on SIGINT/SIGTERM.
 */
export async function runDaemon(config: DaemonConfig): Promise<Daemon> {
  const logger = createLogger(config.logLevel);
  const starting = startDaemon(config, logger);
  let stopping = false;
  const onSignal = (signal: NodeJS.Signals): void => {
    if (stopping) {
      logger.warn({ signal }, 'second signal: exiting without finishing shutdown');
      process.exit(128 + constants.signals[signal]);
    }
    stopping = true;
    logger.info({ signal }, 'shutting down');
    starting
      .then((daemon) => daemon.close())
      .then(
        () => process.exit(0),
        (err: unknown) => {
          logger.error({ err }, 'shutdown failed');
          process.exit(1);
        },
      );
  };
  // Listen before announcing: whoever reads the ready line may signal at once, and a signal
  // with no listener yet would kill the process without a graceful close.
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  const daemon = await starting;
  if (!stopping) {
    logger.info({ version: packageVersion(), ...daemon.address, dataDir: config.dataDir }, 'ready');
    process.stdout.write(`crisscross ${packageVersion()} listening on ${url(daemon.address)} (data ${config.dataDir})\n`);
  }
  return daemon;
}
