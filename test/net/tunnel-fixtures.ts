import { createHash } from 'node:crypto';
import { type IncomingMessage, type Server, createServer, request } from 'node:http';
import { type AddressInfo, createServer as createTcpServer } from 'node:net';

/** `n` bytes of a pattern that differs at every offset modulo 251, so a shifted or dropped chunk changes the hash. */
export function patternBytes(n: number): Buffer {
  const b = Buffer.allocUnsafe(n);
  for (let i = 0; i < n; i++) b[i] = i % 251;
  return b;
}

export function sha256hex(b: Uint8Array): string {
  return createHash('sha256').update(b).digest('hex');
}

/**
 * The service behind the tunnel, a real node:http server: `/` says hello, `/big?n=` sends n
 * pattern bytes, `/endless` sends as fast as the client takes it, forever, `/echo` answers the
 * length and hash of the body, `/slow` sends a chunk every 50 ms until the client goes away.
 */
export async function httpService(): Promise<{ server: Server; port: number }> {
  const big = patternBytes(64 * 1024 * 1024);
  const server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://x');
    if (url.pathname === '/big') {
      const n = Number(url.searchParams.get('n'));
      res.writeHead(200, { 'content-length': n });
      res.end(big.subarray(0, n));
    } else if (url.pathname === '/echo') {
      const h = createHash('sha256');
      let len = 0;
      req.on('data', (c: Buffer) => {
        h.update(c);
        len += c.length;
      });
      req.on('end', () => res.end(`${len} ${h.digest('hex')}`));
    } else if (url.pathname === '/endless') {
      res.writeHead(200);
      const chunk = big.subarray(0, 1024 * 1024);
      const more = (): void => {
        while (!res.destroyed && res.write(chunk));
        if (!res.destroyed) res.once('drain', more);
      };
      more();
    } else if (url.pathname === '/slow') {
      res.writeHead(200);
      res.write('first\n');
      const t = setInterval(() => res.write('more\n'), 50);
      res.on('close', () => clearInterval(t));
    } else {
      res.end('hello');
    }
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { server, port: (server.address() as AddressInfo).port };
}

export async function freePort(): Promise<number> {
  const s = createTcpServer();
  await new Promise<void>((resolve) => s.listen(0, '127.0.0.1', resolve));
  const port = (s.address() as AddressInfo).port;
  await new Promise((resolve) => s.close(resolve));
  return port;
}

export interface Fetched {
  status: number;
  body: Buffer;
}

/** One HTTP request on a fresh connection; rejects if the connection breaks before the body ends. */
export function fetchVia(port: number, path: string, body?: Buffer): Promise<Fetched> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path, method: body === undefined ? 'GET' : 'POST', agent: false }, (res: IncomingMessage) => {
      const parts: Buffer[] = [];
      res.on('data', (c: Buffer) => parts.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(parts) }));
      res.on('error', reject);
      res.on('aborted', () => reject(new Error('aborted')));
    });
    req.on('error', reject);
    req.end(body);
  });
}

/** Starts `/slow` and resolves once its first chunk arrived, with a promise of how the response ended. */
export function slowVia(port: number): Promise<{ ended: Promise<'end' | 'broken'> }> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path: '/slow', agent: false }, (res) => {
      const ended = new Promise<'end' | 'broken'>((r) => {
        res.on('end', () => r(res.complete ? 'end' : 'broken'));
        res.on('error', () => r('broken'));
        res.on('aborted', () => r('broken'));
        res.on('close', () => r(res.complete ? 'end' : 'broken'));
      });
      res.once('data', () => resolve({ ended }));
      res.resume();
    });
    req.on('error', reject);
    req.end();
  });
}
