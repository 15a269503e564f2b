import './helpers/quiet-logs';
import { ADMIN_KEY, Harness, rawRequest, startHarness } from './helpers/admin-harness';
import { MAX_BODY_BYTES } from '../src';
import { nestingBeyond } from '../src/body';
import { waitFor } from '@portico/testkit';
import { recordingLogger } from './helpers/recording-logger';

const upstream = { nodes: { 'a:1': 1 } };

describe('malformed input never gets a 5xx (SPEC §3.6)', () => {
  let h: Harness;
  const log = recordingLogger();

  beforeAll(async () => {
    h = await startHarness({ logger: log.logger });
  });
  afterEach(() => {
    // Every unexpected error is logged at error level before its 500: there must be none.
    expect(log.errors()).toEqual([]);
  });
  afterAll(async () => {
    await h.close();
  });

  const paths = [
    '/apisix/admin/routes/..%2F..%2Fconsumers%2Fx', '/apisix/admin/routes/%2e%2e', '/apisix/admin/routes/..', '/apisix/admin/routes/../consumers',
    '/apisix/admin/routes/%E0%A4%A', '/apisix/admin/routes/%', '/apisix/admin/routes/%00', '/apisix/admin/routes/a%0Ab',
    '/apisix/admin/routes//1', '/apisix/admin//routes', '/apisix/admin/routes/' + '9'.repeat(400), '/apisix/admin/routes/' + 'x'.repeat(5000),
    '/apisix/admin/routes/%F0%9F%98%80', '/apisix/admin/consumers/%C3%A9t%C3%A9', '/apisix/admin/consumers/%C3%A9t%C3%A9/credentials/x',
    '/apisix/admin/consumers/a%2Fcredentials%2Fb/credentials/c', '/apisix/admin/consumers/john%2F/credentials',
    '/apisix/admin/secrets/..%2Faws/1', '/apisix/admin/secrets/aws/..%2F1', '/apisix/admin/secrets/__proto__/1',
    '/apisix/admin/upstreams/1?force=%ZZ', '/apisix/admin/routes?api_key=%ZZ', '/apisix/admin/%ZZ', '/apisix/admin/routes/1/2/3/4/5/6',
  ];
  const bodies: Array<string | undefined> = [
    undefined, '', ' ', 'garbage', '{', '}', '[', '{"a":}', '[]', '[1,2,3]', '0', '-1', '1e999', '"str"', 'true', 'null',
    '{"__proto__":{"admin":true},"uri":"/","upstream":{"nodes":{}}}', '{"constructor":{"prototype":{}}}',
    '{"id":"' + 'x'.repeat(100) + '","uri":"/"}', '{"id":12345678901234567890,"uri":"/","upstream":{"nodes":{}}}',
    '{"id":-0,"uri":"/","upstream":{"nodes":{}}}', '{"id":"../x","uri":"/","upstream":{"nodes":{}}}',
    '{"uri":"/\u00e9\ud83d\ude00","upstream":{"nodes":{"h\u00e9:80":1}}}', '{"uri":"\\ud800","upstream":{"nodes":{}}}',
    '\ufeff{"uri":"/","upstream":{"nodes":{}}}', '{"uri":"/","upstream":{"nodes":{}}}garbage',
    '{"username":' + '1'.repeat(400) + '}', '{"plugins":{"key-auth":{"key":{"$ne":""}}}}', '{"plugins":null}', '{"plugins":[]}',
    '{"nodes":' + '['.repeat(5000) + ']'.repeat(5000) + '}',
    '{"uri":"/","upstream":{"nodes":{}},"vars":' + '['.repeat(999) + ']'.repeat(999) + '}',
    '{"uri":"/","upstream":{"nodes":{},"checks":' + '{"a":'.repeat(100000) + '1' + '}'.repeat(100000) + '}}',
    Buffer.from([0xff, 0xfe, 0x00, 0x7b]).toString('latin1'),
  ];

  it('sweeps paths × methods', async () => {
    for (const path of paths) {
      for (const method of ['GET', 'PUT', 'POST', 'DELETE', 'PATCH']) {
        const body = method === 'PUT' || method === 'POST' || method === 'PATCH' ? '{"uri":"/","upstream":{"nodes":{}}}' : undefined;
        const r = await rawRequest(h.admin.port, method, path, body);
        expect([method, path, r.status < 500]).toEqual([method, path, true]);
        expect(() => JSON.parse(r.text)).not.toThrow();
      }
    }
  });

  it('sweeps bodies × resources', async () => {
    const targets = ['/apisix/admin/routes/1', '/apisix/admin/routes', '/apisix/admin/upstreams/1', '/apisix/admin/consumers',
      '/apisix/admin/consumers/x', '/apisix/admin/consumers/x/credentials/c', '/apisix/admin/secrets/aws/1'];
    await h.call('PUT', '/apisix/admin/consumers', { username: 'x' });
    for (const target of targets) {
      for (const method of ['PUT', 'POST']) {
        for (const body of bodies) {
          const r = await rawRequest(h.admin.port, method, target, body);
          expect([method, target, body?.slice(0, 60), r.status < 500]).toEqual([method, target, body?.slice(0, 60), true]);
          // A rejected write answers 400/404/405 with a JSON body naming the problem.
          if (r.status >= 400) expect(JSON.parse(r.text)).toEqual(expect.objectContaining({}));
        }
      }
    }
  });

  it('does not let a crafted path reach another key', async () => {
    await h.call('PUT', '/apisix/admin/consumers', { username: 'victim' });
    await h.call('PUT', '/apisix/admin/consumers/victim/credentials/c', { plugins: { 'key-auth': { key: 'v-key' } } });
    const before = (await h.store.range('/apisix/')).items.map((i) => i.key);
    for (const path of ['/apisix/admin/consumers/victim%2Fcredentials%2Fc', '/apisix/admin/routes/..%2Fconsumers%2Fvictim',
      '/apisix/admin/secrets/aws%2F..%2F..%2Fconsumers/victim']) {
      expect((await rawRequest(h.admin.port, 'DELETE', path)).status).toBe(404);
      expect((await rawRequest(h.admin.port, 'PUT', path, '{"username":"victim","uri":"/","upstream":{"nodes":{}}}')).status).toBeLessThan(500);
    }
    // A credential path whose consumer segment names an existing credential.
    const nested = await rawRequest(h.admin.port, 'PUT', '/apisix/admin/consumers/victim%2Fcredentials%2Fc/credentials/d', '{"plugins":{"key-auth":{"key":"x"}}}');
    expect([nested.status, JSON.parse(nested.text)]).toEqual([404, { error_msg: 'consumer not found' }]);
    expect((await h.store.range('/apisix/')).items.map((i) => i.key)).toEqual(before);
  });

  it('answers nesting deeper than 1000 with a 400', async () => {
    const r = await h.call('PUT', '/apisix/admin/routes/1', '{"uri":"/","upstream":{"nodes":{}},"vars":' + '['.repeat(1001) + ']'.repeat(1001) + '}');
    expect([r.status, r.json.error_msg]).toEqual([400, expect.stringMatching(/^invalid request body: Found too many nested data structures \(1001\) at character \d+$/)]);
    expect(nestingBeyond('["[[[[", {"a":"]]]]"}]', 2)).toBeUndefined();
    expect(nestingBeyond('[[["\\"[["]]]', 2)).toBe(2);
  });

  it('rejects a body over 1.5 MiB with its size, by Content-Length or chunked', async () => {
    const size = MAX_BODY_BYTES + 1;
    const big = JSON.stringify({ uri: '/', upstream, desc: 'x'.repeat(size - 52) });
    expect(Buffer.byteLength(big)).toBe(size);
    const msg = `invalid request body: request size ${size} is greater than the maximum size ${MAX_BODY_BYTES} allowed`;

    const declared = await h.call('PUT', '/apisix/admin/routes/big', big);
    expect([declared.status, declared.json]).toEqual([400, { error_msg: msg }]);

    const chunks = [big.slice(0, 1_000_000), big.slice(1_000_000)];
    const stream = new ReadableStream({
      pull(ctl) {
        const c = chunks.shift();
        if (c === undefined) ctl.close();
        else ctl.enqueue(new TextEncoder().encode(c));
      },
    });
    const res = await fetch(`${h.base}/apisix/admin/routes/big`, {
      method: 'PUT', body: stream, headers: { 'X-API-KEY': ADMIN_KEY }, duplex: 'half',
    } as RequestInit);
    expect([res.status, await res.json()]).toEqual([400, { error_msg: msg }]);

    // The same connection keeps working afterwards.
    expect((await h.call('GET', '/apisix/admin/routes/big')).status).toBe(404);
    expect(await h.store.get('/apisix/routes/big')).toBeUndefined();
  });

  it('accepts a body of exactly 1.5 MiB (then judges its content)', async () => {
    const exact = JSON.stringify({ uri: '/', upstream, desc: 'x'.repeat(MAX_BODY_BYTES - 52) });
    expect(Buffer.byteLength(exact)).toBe(MAX_BODY_BYTES);
    const r = await h.call('PUT', '/apisix/admin/routes/exact', exact);
    expect([r.status, r.json.error_msg]).toEqual([400, 'invalid configuration: property "desc" validation failed: string too long, expected at most 256, got 1572812']);
  });

  it('handles a client that aborts mid-body quietly', async () => {
    const net = await import('node:net');
    await new Promise<void>((resolve, reject) => {
      const sock = net.connect(h.admin.port, '127.0.0.1', () => {
        sock.write(`PUT /apisix/admin/routes/abort HTTP/1.1\r\nHost: x\r\nX-API-KEY: ${ADMIN_KEY}\r\nContent-Length: 1000\r\n\r\n{"uri":`);
        sock.destroy();
        resolve();
      });
      sock.on('error', reject);
    });
    await waitFor(() => log.entries.some((e) => e.msg === 'admin client connection error'), { timeoutMs: 5000, what: 'the aborted request to be handled' });
    // The server is still healthy and wrote nothing.
    expect((await h.call('GET', '/apisix/admin/routes/abort')).status).toBe(404);
  });
});
