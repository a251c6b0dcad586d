import type { Redis } from 'ioredis';

/** A worker answering each message with its argument and method joined, until its connection closes. */
export function runWorker(r: Redis, service: string, respond: (method: string, arg: Buffer) => Buffer = (m, a) => Buffer.concat([Buffer.from(`${m}:`), a])): Promise<void> {
  return (async () => {
    for (;;) {
      let m: [Buffer, number, Buffer, Buffer] | null;
      try {
        m = (await r.callBuffer('STREAMGET', service, '0')) as [Buffer, number, Buffer, Buffer] | null;
      } catch {
        return;
      }
      if (m === null) continue;
      try {
        await r.call('STREAMRESPOND', m[0], String(m[1]), respond(m[2].toString(), m[3]));
      } catch {
        return;
      }
    }
  })();
}

/** Collects the pmessages of a stream ref until its `:end` message. */
export function collect(sub: Redis, ref: string): { results: Array<[string, string]>; ended: Promise<string> } {
  const results: Array<[string, string]> = [];
  const ended = new Promise<string>((resolve) => {
    sub.on('pmessageBuffer', (pattern: Buffer, channel: Buffer, message: Buffer) => {
      if (pattern.toString() !== ref) return;
      if (channel.toString().endsWith(':end')) resolve(message.toString());
      else results.push([channel.toString(), message.toString()]);
    });
  });
  return { results, ended };
}
