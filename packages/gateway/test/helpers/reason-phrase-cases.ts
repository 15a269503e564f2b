import net from 'node:net';
import type { Harness } from './harness';

/**
 * Upstream reason phrases the proxy relays, for both data-plane servers (each server is a
 * module-level choice, so each has its own test file running these cases). A raw TCP upstream
 * answers with exactly the status line given.
 */
export function reasonPhraseCases(start: () => Promise<Harness>): void {
  let h: Harness;
  let upstream: net.Server;
  let statusLine = '';

  beforeAll(async () => {
    upstream = net.createServer((s) => {
      s.once('data', () => s.end(`${statusLine}\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok`, 'latin1'));
      s.on('error', () => undefined);
    });
    await new Promise<void>((r) => upstream.listen(0, '127.0.0.1', r));
    h = await start();
    const { port } = upstream.address() as net.AddressInfo;
    await h.put('routes/reason', { uri: '/reason', upstream: { nodes: { [`127.0.0.1:${port}`]: 1 }, retries: 0 } });
  });
  afterAll(async () => {
    await h?.close();
    await new Promise((r) => upstream?.close(r));
  });

  it.each([
    ['a plain reason, relayed', 'HTTP/1.1 200 Fine Thanks', 200, 'Fine Thanks'],
    ['a reason with a control character: the standard phrase instead', 'HTTP/1.1 200 O\x01K', 200, 'OK'],
    ['a reason with DEL: the standard phrase instead', 'HTTP/1.1 404 Not\x7fFound', 404, 'Not Found'],
  ])('%s', async (_name, line, status, reason) => {
    statusLine = line;
    const r = await rawGet(h.port, '/reason');
    expect(r.split('\r\n')[0]).toBe(`HTTP/1.1 ${status} ${reason}`);
    expect(r.endsWith('ok')).toBe(true);
  });
}

/** One GET on a fresh connection; the whole answer as latin1 text once the server closes. */
function rawGet(port: number, path: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const s = net.connect(port, '127.0.0.1', () => s.write(`GET ${path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`));
    let text = '';
    s.setEncoding('latin1');
    s.on('data', (d: string) => { text += d; });
    s.on('end', () => resolve(text));
    s.on('error', reject);
    s.setTimeout(10_000, () => {
      s.destroy();
      reject(new Error(`no complete answer within 10 s; got ${JSON.stringify(text)}`));
    });
  });
}
