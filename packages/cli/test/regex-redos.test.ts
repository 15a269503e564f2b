import { startEchoUpstream, startPortico, type EchoUpstream, type PorticoProcess } from '@portico/testkit';

/**
 * Regexes from configuration run on the event loop of the node that serves every request. A
 * catastrophic pattern (`(a+)+$`) against 40 `a`s and a `!` takes 2^40 backtracking steps on
 * a plain JavaScript RegExp: the node would answer nothing for hours. Each case sends such a
 * request to a real node together with an ordinary one on another connection; both must be
 * answered. (Before the fix neither was, and the node had to be killed.)
 */
jest.setTimeout(60_000);

let node: PorticoProcess;
let echo: EchoUpstream;
const HOSTILE = 'a'.repeat(40) + '!';
/** Generous: an answer takes milliseconds; the backtracking run would take hours. */
const DEADLINE_MS = 10_000;

async function admin(path: string, body: unknown): Promise<void> {
  const res = await fetch(`${node.adminUrl}/apisix/admin/${path}`, { method: 'PUT', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
  expect(res.status).toBeLessThan(300);
  await res.arrayBuffer();
}

function get(path: string, headers: Record<string, string> = {}): Promise<Response> {
  return fetch(`${node.proxyUrl}${path}`, { headers, signal: AbortSignal.timeout(DEADLINE_MS) });
}

beforeAll(async () => {
  echo = await startEchoUpstream({ name: 'echo' });
  node = await startPortico({ name: 'regex-redos', role: 'traditional' });
  const upstream = { type: 'roundrobin', nodes: { [`127.0.0.1:${echo.port}`]: 1 } };
  await admin('routes/ok', { uri: '/ok', upstream });
  await admin('routes/vars', { uri: '/re/*', vars: [['uri', '~~', '^/re/(a+)+$']], upstream });
  await admin('routes/vars-i', { uri: '/ri/*', vars: [['uri', '~*', '^/RI/(A+)+$']], upstream });
  await admin('routes/rewrite', { uri: '/rw/*', plugins: { 'proxy-rewrite': { regex_uri: ['^/rw/(a+)+$', '/rewritten'] } }, upstream });
  await admin('routes/cors', { uri: '/cors', plugins: { cors: { allow_origins: 'http://listed.example', allow_origins_by_regex: ['^(a+)+$'] } }, upstream });
  // The last write is applied once its route answers.
  for (let i = 0; i < 100 && (await get('/cors')).status !== 200; i++) await new Promise((r) => setTimeout(r, 50));
});

afterAll(async () => {
  await node?.kill();
  await echo?.close();
});

/** The hostile request and an ordinary one on another connection, at the same time. */
async function withOrdinary(hostile: Promise<Response>): Promise<Response> {
  const [h, ok] = await Promise.all([hostile, get('/ok')]);
  expect(ok.status).toBe(200);
  await ok.arrayBuffer();
  return h;
}

it('route vars ~~: a catastrophic pattern on hostile input is a 404 at once, and other connections are served', async () => {
  const r = await withOrdinary(get(`/re/${HOSTILE}`));
  expect(r.status).toBe(404);
  await r.arrayBuffer();
  const matched = await get('/re/aaaa');
  expect(matched.status).toBe(200);
  await matched.arrayBuffer();
});

it('route vars ~*: the same, case-insensitively', async () => {
  const r = await withOrdinary(get(`/ri/${HOSTILE}`));
  expect(r.status).toBe(404);
  await r.arrayBuffer();
  const matched = await get('/ri/aAaA');
  expect(matched.status).toBe(200);
  await matched.arrayBuffer();
});

it('proxy-rewrite regex_uri: no rewrite for hostile input, answered at once', async () => {
  const r = await withOrdinary(get(`/rw/${HOSTILE}`));
  expect(r.status).toBe(200);
  expect(((await r.json()) as { url: string }).url).toBe(`/rw/${HOSTILE}`);
  const rewritten = await get('/rw/aaa');
  expect(((await rewritten.json()) as { url: string }).url).toBe('/rewritten');
});

it('cors allow_origins_by_regex: a hostile Origin is not allowed, answered at once', async () => {
  const r = await withOrdinary(get('/cors', { origin: HOSTILE }));
  expect(r.status).toBe(200);
  expect(r.headers.get('access-control-allow-origin')).toBeNull();
  await r.arrayBuffer();
  const allowed = await get('/cors', { origin: 'aaaa' });
  expect(allowed.headers.get('access-control-allow-origin')).toBe('aaaa');
  await allowed.arrayBuffer();
});
