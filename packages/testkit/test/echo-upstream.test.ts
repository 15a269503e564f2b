import http from 'node:http';
import { ECHO_BODY_KEEP, startEchoUpstream, type EchoReply, type EchoUpstream } from '../src/echo-upstream';

/** A bare node:http request, so the test sees exactly what the upstream answered. */
function request(url: string, opts: { method?: string; body?: Buffer | string; headers?: Record<string, string> } = {}):
  Promise<{ status: number; headers: http.IncomingHttpHeaders; body: Buffer }> {
  return new Promise((resolve, reject) => {
    const req = http.request(url, { method: opts.method ?? 'GET', headers: opts.headers, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, body: Buffer.concat(chunks) }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(opts.body);
  });
}

describe('echo upstream', () => {
  let up: EchoUpstream;
  beforeEach(async () => {
    up = await startEchoUpstream({ name: 'alpha' });
  });
  afterEach(() => up.close());

  it('echoes method, path+query, headers and body', async () => {
    const res = await request(`${up.url}/a/b?x=1&y=2`, {
      method: 'POST', body: 'hello', headers: { 'x-test': 'yes', 'content-type': 'text/plain' },
    });
    expect(res.status).toBe(200);
    expect(res.headers['x-echo-name']).toBe('alpha');
    const reply = JSON.parse(res.body.toString()) as EchoReply;
    expect(reply).toMatchObject({ name: 'alpha', method: 'POST', url: '/a/b?x=1&y=2', body: 'hello', bodyLength: 5 });
    expect(reply.headers['x-test']).toBe('yes');
    expect(up.requests).toBe(1);
  });

  it('counts a large body but keeps only its first 64 KiB', async () => {
    const big = Buffer.alloc(ECHO_BODY_KEEP * 3 + 7, 'a');
    const reply = JSON.parse((await request(`${up.url}/upload`, { method: 'PUT', body: big })).body.toString()) as EchoReply;
    expect(reply.bodyLength).toBe(big.length);
    expect(reply.body.length).toBe(ECHO_BODY_KEEP);
  });

  it('answers /status/<code> with that code', async () => {
    const res = await request(`${up.url}/status/503`);
    expect(res.status).toBe(503);
    expect((JSON.parse(res.body.toString()) as EchoReply).url).toBe('/status/503');
    expect((await request(`${up.url}/status/204`)).status).toBe(204);
  });

  it('delays /delay/<ms>', async () => {
    const started = Date.now();
    const res = await request(`${up.url}/delay/120`);
    expect(res.status).toBe(200);
    expect(Date.now() - started).toBeGreaterThanOrEqual(110);
  });

  it('streams /stream/<bytes>', async () => {
    const res = await request(`${up.url}/stream/300000`);
    expect(res.status).toBe(200);
    expect(res.headers['transfer-encoding']).toBe('chunked');
    expect(res.body.length).toBe(300000);
  });

  it('drops the connection on /close', async () => {
    await expect(request(`${up.url}/close`)).rejects.toMatchObject({ code: 'ECONNRESET' });
    expect(up.requests).toBe(1);
  });

  it('names itself after its port by default and stops listening on close', async () => {
    const other = await startEchoUpstream();
    expect(other.name).toBe(`echo-${other.port}`);
    await other.close();
    await expect(request(other.url)).rejects.toMatchObject({ code: 'ECONNREFUSED' });
  });
});
