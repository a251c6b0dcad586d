import { Redis } from 'ioredis';

export type Answer = [Buffer, Buffer];

/** Connections to one daemon for a suite: each opened and remembered, so afterEach can close them all. */
export function clientPool(port: () => number): { clients: Redis[]; client: () => Promise<Redis> } {
  const clients: Redis[] = [];
  const client = async (): Promise<Redis> => {
    const r = new Redis({ port: port(), host: '127.0.0.1', lazyConnect: true, maxRetriesPerRequest: 0 });
    await r.connect();
    clients.push(r);
    return r;
  };
  return { clients, client };
}

/** JOBDO of `service` on `r`: one `[response, signature]` or error per method/arg pair. */
export function jobdo(r: Redis, service: string, timeout: number, ...pairs: string[]): Promise<Array<Answer | Error>> {
  return r.callBuffer('JOBDO', service, String(timeout), ...pairs) as Promise<Array<Answer | Error>>;
}
