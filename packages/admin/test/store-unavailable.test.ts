import './helpers/quiet-logs';
import { Harness, startHarness } from './helpers/admin-harness';
import { unavailableStore } from './helpers/unavailable-store';

const REASON = 'etcd unreachable: connect ECONNREFUSED 127.0.0.1:2379';
const upstream = { nodes: { 'a:1': 1 } };

describe('store unavailable → 503 (SPEC §3.6, §5.4)', () => {
  let h: Harness;

  beforeAll(async () => {
    h = await startHarness({ store: unavailableStore(REASON) });
  });
  afterAll(async () => {
    await h.close();
  });

  it.each<[string, string, unknown]>([
    ['GET', '/routes', undefined],
    ['GET', '/routes/1', undefined],
    ['GET', '/consumers', undefined],
    ['GET', '/consumers/john/credentials', undefined],
    ['GET', '/secrets/aws/1', undefined],
    ['PUT', '/routes/1', { uri: '/', upstream }],
    ['PUT', '/routes/1', { uri: '/', upstream_id: 'u1' }],
    ['POST', '/routes', { uri: '/', upstream }],
    ['PUT', '/upstreams/1', upstream],
    ['PUT', '/consumers', { username: 'john', plugins: { 'key-auth': { key: 'k' } } }],
    ['PUT', '/consumers/john/credentials/c1', { plugins: { 'key-auth': { key: 'k' } } }],
    ['PUT', '/secrets/aws/1', { region: 'us-east-1' }],
    ['DELETE', '/routes/1', undefined],
    ['DELETE', '/upstreams/1', undefined],
    ['DELETE', '/consumers/john', undefined],
  ])('%s %s → 503 with the reason', async (method, path, body) => {
    const r = await h.call(method, `/apisix/admin${path}`, body);
    expect([r.status, r.json]).toEqual([503, { error_msg: REASON }]);
    expect(r.headers.get('x-config-revision')).toBeNull();
  });

  it('still answers bad input with 400, before touching the store', async () => {
    const r = await h.call('PUT', '/apisix/admin/routes/1', { uri: 1 });
    expect(r.status).toBe(400);
  });
});
