import { type Server, type Socket, createServer } from 'node:net';
import type { Logger } from 'pino';
import { CrissError } from '../errors.ts';
import { type Pipe, type PipeCounters, pipe } from './tunnel-pipe.ts';
import { DEFAULT_IDLE_MS, type TunnelService } from './tunnel-service.ts';

export interface TunnelTarget {
  cluster: string;
  name: string;
  host: string;
  port: number;
}

export interface ListenerInit extends TunnelTarget {
  localPort: number;
  passphrase: string;
  /** The cluster node's tunnel service as it is now (the node restarts when its file changes). */
  service(): TunnelService;
  logger: Logger;
  maxConnections: number;
  idleMs?: number;
}

const SETUP_MS = 30_000;

/**
 * The client end of one tunnel: a TCP listener on 127.0.0.1:localPort whose every accepted
 * connection becomes one stream to a peer that proved the tunnel's key, until closed.
 */
export class TunnelListener {
  readonly target: TunnelTarget;
  readonly localPort: number;
  readonly counters: PipeCounters & { active: number; total: number; refused: number } = { received: 0, sent: 0, active: 0, total: 0, refused: 0 };
  private readonly init: ListenerInit;
  private readonly server: Server;
  private readonly pipes = new Set<Pipe>();
  private readonly closing = new AbortController();

  private constructor(init: ListenerInit, server: Server) {
    this.init = init;
    this.server = server;
    this.localPort = init.localPort;
    this.target = { cluster: init.cluster, name: init.name, host: init.host, port: init.port };
  }

  static async listen(init: ListenerInit): Promise<TunnelListener> {
    // Paused until the stream is ready: early bytes wait in the kernel, not in memory here.
    const server = createServer({ allowHalfOpen: true, pauseOnConnect: true });
    const l = new TunnelListener(init, server);
    server.maxConnections = init.maxConnections;
    server.on('connection', (s) => void l.accept(s));
    server.on('drop', () => l.counters.refused++);
    await new Promise<void>((resolve, reject) => {
      server.once('error', (err: NodeJS.ErrnoException) => reject(new CrissError('ERR', `cannot listen on 127.0.0.1:${init.localPort}: ${err.code ?? err.message}`)));
      server.listen(init.localPort, '127.0.0.1', resolve);
    });
    return l;
  }

  private async accept(socket: Socket): Promise<void> {
    const { cluster, name, host, port } = this.target;
    socket.on('error', () => undefined);
    let stream;
    try {
      stream = await this.init.service().connect(name, this.init.passphrase, host, port, 'connect', AbortSignal.any([this.closing.signal, AbortSignal.timeout(SETUP_MS)]));
    } catch (err) {
      this.counters.refused++;
      this.init.logger.info({ cluster, name, target: `${host}:${port}`, localPort: this.localPort, code: (err as CrissError).code, err: (err as Error).message }, 'tunnel connection refused');
      socket.destroy();
      return;
    }
    if (socket.destroyed) {
      stream.abort(new Error('local client left'));
      return;
    }
    const p = pipe(socket, stream, this.counters, this.init.idleMs ?? DEFAULT_IDLE_MS);
    this.pipes.add(p);
    this.counters.active++;
    this.counters.total++;
    socket.resume();
    await p.done;
    this.counters.active--;
    this.pipes.delete(p);
  }

  /** Stops listening and cuts the connections still open. */
  async close(): Promise<void> {
    this.closing.abort();
    const closed = new Promise<void>((resolve) => this.server.close(() => resolve()));
    for (const p of this.pipes) p.cut('tunnel closed');
    await closed;
  }
}
