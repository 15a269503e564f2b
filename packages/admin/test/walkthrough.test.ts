import './helpers/quiet-logs';
import { Harness, request, startHarness, testConfig } from './helpers/admin-harness';

/**
 * APISIX's "Manage Secrets in AWS Secrets Manager" walkthrough, verbatim: no API key (the
 * repository's config.yaml is keyless on loopback) and `curl -d`'s form content type.
 */
describe('APISIX walkthrough admin calls', () => {
  let h: Harness;
  const curl = (method: string, path: string, body?: string) =>
    request(h.base, method, path, body, body === undefined ? {} : { 'Content-Type': 'application/x-www-form-urlencoded' });

  beforeAll(async () => {
    h = await startHarness({
      config: testConfig({ deployment: { admin: { admin_key_required: false } } }),
      adminKeys: [],
    });
  });
  afterAll(async () => {
    await h.close();
  });

  it('creates the secret manager, consumer, credential and route', async () => {
    const steps: Array<[string, string, string, number, string]> = [
      ['PUT', '/apisix/admin/secrets/aws/john',
        '{"region":"ap-southeast-2","access_key_id":"AKIARK7HKSJVWAIKFOXR","secret_access_key":"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"}',
        201, '/apisix/secrets/aws/john'],
      ['PUT', '/apisix/admin/consumers', '{"username":"john"}', 201, '/apisix/consumers/john'],
      ['PUT', '/apisix/admin/consumers/john/credentials',
        '{"id":"cred-john-key-auth","plugins":{"key-auth":{"key":"$secret://aws/john/apisix-secrets/john-key-auth"}}}',
        201, '/apisix/consumers/john/credentials/cred-john-key-auth'],
      ['PUT', '/apisix/admin/routes',
        '{"id":"key-auth-route","uri":"/anything","plugins":{"key-auth":{}},"upstream":{"type":"roundrobin","nodes":{"httpbin.org:80":1}}}',
        201, '/apisix/routes/key-auth-route'],
      // Docs are often run twice: the second run replaces.
      ['PUT', '/apisix/admin/consumers', '{"username":"john"}', 200, '/apisix/consumers/john'],
    ];
    for (const [method, path, body, status, key] of steps) {
      const r = await curl(method, path, body);
      expect([path, r.status, r.json?.key]).toEqual([path, status, key]);
      expect(r.headers.get('content-type')).toMatch(/^application\/json/);
    }

    const cred = await curl('GET', '/apisix/admin/consumers/john/credentials/cred-john-key-auth');
    expect(cred.json.value.plugins['key-auth'].key).toBe('$secret://aws/john/apisix-secrets/john-key-auth');
    const route = await curl('GET', '/apisix/admin/routes/key-auth-route');
    expect(route.json.value).toMatchObject({ id: 'key-auth-route', uri: '/anything', plugins: { 'key-auth': {} } });
    const secret = await curl('GET', '/apisix/admin/secrets/aws/john');
    expect(secret.json.value).toMatchObject({ id: 'aws/john', region: 'ap-southeast-2' });
  });

  it('ignores a stale X-API-KEY while keyless (APISIX docs send one on every call)', async () => {
    const r = await request(h.base, 'GET', '/apisix/admin/routes', undefined, { 'X-API-KEY': 'edd1c9f034335f136f87ad84b625c8f1' });
    expect(r.status).toBe(200);
  });
});
