import './helpers/quiet-logs';
import { Harness, startHarness } from './helpers/admin-harness';

/**
 * The Admin API runs the data plane's own compile functions (core/compile) before a write, so
 * what it stores every data plane of the same version applies: vars expressions, regexes,
 * node addresses and plugin confs it would refuse on load are a 400 here, with APISIX's words
 * where APISIX has them, and nothing is stored.
 */
const upstream = { type: 'roundrobin', nodes: { '127.0.0.1:8080': 1 } };
const route = (extra: Record<string, unknown>) => ({ uri: '/x', upstream, ...extra });

/** `depth` lists inside each other, a condition at the bottom. */
function nested(depth: number): unknown[] {
  let v: unknown[] = [['arg_a', '==', '1']];
  for (let i = 1; i < depth; i++) v = [v];
  return v;
}

describe('admin API: one compile path with the data plane', () => {
  let h: Harness;

  beforeAll(async () => {
    h = await startHarness();
  });
  afterAll(async () => {
    await h.close();
  });

  async function refused(path: string, body: unknown, message: string): Promise<void> {
    const r = await h.call('PUT', `/apisix/admin/${path}`, body);
    expect([r.status, r.json]).toEqual([400, { error_msg: message }]);
    expect((await h.call('GET', `/apisix/admin/${path}`)).status).toBe(404);
  }

  it.each([
    ['an invalid regex', [['uri', '~~', '^(']], 'failed to validate the \'vars\' expression: invalid regex "^(": Unterminated group'],
    ['a regex that needs backtracking', [['http_x', '~*', '(a)\\1']],
      'failed to validate the \'vars\' expression: invalid regex "(a)\\1": backreferences and octal escapes are not supported'],
    ['a lookahead', [['uri', '~~', 'a(?=b)']],
      'failed to validate the \'vars\' expression: invalid regex "a(?=b)": cannot run in linear time (backreferences, lookahead/lookbehind and counted repetition above 16 are not supported)'],
    ['an unknown operator', [['uri', '=~', '/x']], 'failed to validate the \'vars\' expression: invalid operator \'=~\''],
    // (900: the body parser itself refuses JSON nested 1,000 deep)
    ['900 levels of nesting', nested(900), 'failed to validate the \'vars\' expression: expression nested deeper than 32 levels'],
  ])('refuses route vars with %s', async (_what, vars, message) => {
    await refused('routes/v', route({ vars }), message);
  });

  it('accepts vars the data plane compiles, up to the nesting limit', async () => {
    const r = await h.call('PUT', '/apisix/admin/routes/ok', route({ vars: [['uri', '~~', '^/re/(a+)+$'], ['http_env', '~*', '^PROD'], ...nested(31)] }));
    expect(r.status).toBe(201);
  });

  it.each([
    ['a port above 65535', { '127.0.0.1:70000': 1 }, 'invalid configuration: property "nodes" validation failed: invalid node address "127.0.0.1:70000": invalid port "70000"'],
    ['port 0', { 'a.example:0': 1 }, 'invalid configuration: property "nodes" validation failed: invalid node address "a.example:0": invalid port "0"'],
    ['a CRLF in the host', { 'a.example\r\nX-Injected:80': 1 },
      'invalid configuration: property "nodes" validation failed: invalid node address "a.example\\r\\nX-Injected:80": invalid host "a.example\\r\\nX-Injected"'],
    ['a space in the host', { 'a b:80': 1 }, 'invalid configuration: property "nodes" validation failed: invalid node address "a b:80": invalid host "a b"'],
    ['an IPv6 address that is not one', { '[::g]:80': 1 }, 'invalid configuration: property "nodes" validation failed: invalid node address "[::g]:80": invalid host "[::g]"'],
  ])('refuses an upstream node with %s', async (_what, nodes, message) => {
    await refused('upstreams/u', { type: 'roundrobin', nodes }, message);
    await refused('routes/u', route({ upstream: { type: 'roundrobin', nodes } }), message);
  });

  it('accepts node addresses the proxy connects to: names, IPv4, bracketed and bare IPv6, no port', async () => {
    const nodes = { 'a.example:80': 1, '127.0.0.1:65535': 1, '[::1]:8080': 1, '::1': 1, 'b_c.example': 1 };
    expect((await h.call('PUT', '/apisix/admin/upstreams/ok', { type: 'roundrobin', nodes })).status).toBe(201);
  });

  it.each([
    ['proxy-rewrite', { regex_uri: ['^/(a+)\\1', '/x'] },
      'failed to check the configuration of plugin proxy-rewrite err: invalid regex_uri(^/(a+)\\1, /x): invalid regex "^/(a+)\\1": cannot run in linear time (backreferences, lookahead/lookbehind and counted repetition above 16 are not supported)'],
    ['proxy-rewrite', { regex_uri: ['^/a', '/b', '^/c'] }, 'failed to check the configuration of plugin proxy-rewrite err: The length of regex_uri should be an even number'],
    ['cors', { allow_origins_by_regex: ['^https://(.*'] }, 'failed to check the configuration of plugin cors err: invalid regex "^https://(.*": Unterminated group'],
    ['response-rewrite', { status_code: 200, vars: [['status', '~~', '[']] },
      'failed to check the configuration of plugin response-rewrite err: failed to validate the \'vars\' expression: invalid regex "[": Unterminated character class'],
    ['ip-restriction', { whitelist: ['10.0.0.0/8', '10.0.0.1/99'] },
      'failed to check the configuration of plugin ip-restriction err: property "whitelist" validation failed: failed to validate item 2: object matches none of the required'],
  ])('refuses a %s conf the plugin cannot compile', async (name, conf, message) => {
    await refused('routes/p', route({ plugins: { [name]: conf } }), message);
    await refused('global_rules/p', { plugins: { [name]: conf } }, message);
  });

  it('refuses a route remote_addr that is not an address or CIDR', async () => {
    await refused('routes/ra', route({ remote_addrs: ['10.0.0.1', '10.0.0.0/40'] }),
      'invalid configuration: property "remote_addrs" validation failed: failed to validate item 2: object matches none of the required');
  });
});
