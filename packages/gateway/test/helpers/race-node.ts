import type net from 'node:net';
import type { Harness } from './harness';

/**
 * The keep-alive race, made certain: a connection listener (for a net or tls server) that
 * answers the first request on each connection and closes the connection unanswered on the
 * second. `sockets` collects the accepted connections.
 */
export function answerOnceThenDrop(sockets: net.Socket[]): (sock: net.Socket) => void {
  return (sock) => {
    sockets.push(sock);
    let n = 0;
    sock.on('error', () => undefined);
    sock.on('data', (d) => {
      if (!d.toString('latin1').includes('\r\n\r\n')) return;
      if (++n === 1) sock.write('HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok');
      else sock.destroy();
    });
  };
}

/**
 * With a route `uri` to such a node (and no retries, so only the client can save it): three
 * GETs all succeed, each on a connection of its own, and a POST, which must not be sent twice,
 * gets the node's failure.
 */
export async function expectRaceSaved(h: Harness, uri: string, sockets: net.Socket[]): Promise<void> {
  for (let i = 0; i < 3; i++) {
    const r = await h.request(uri);
    expect(r.status).toBe(200);
    expect(r.text).toBe('ok');
  }
  expect(sockets.length).toBe(3);
  expect((await h.request(uri, { method: 'POST' })).status).toBe(502);
}

/**
 * The undici fallback's answer to the same race: the GET on the closed connection is answered
 * 502 (with no retries), the next one succeeds on a new connection.
 */
export async function expectRaceLost(h: Harness, uri: string, sockets: net.Socket[]): Promise<void> {
  const first = await h.request(uri);
  expect(first.status).toBe(200);
  expect((await h.request(uri)).status).toBe(502);
  const third = await h.request(uri);
  expect(third.status).toBe(200);
  expect(third.text).toBe('ok');
  expect(sockets.length).toBe(2);
}
