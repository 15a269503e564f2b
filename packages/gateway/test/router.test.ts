import { Router, type MatchRequest, type RouteSpec } from '../src/routing/router';

type R = string;

function router(...specs: Array<Omit<RouteSpec<R>, 'payload'>>): Router<R> {
  const r = new Router<R>();
  for (const s of specs) r.set({ ...s, payload: s.id });
  return r;
}

function req(path: string, extra: Partial<MatchRequest> = {}): MatchRequest {
  return { method: 'GET', path, host: undefined, remoteAddr: '127.0.0.1', ...extra };
}

describe('Router', () => {
  it('matches exact paths only exactly', () => {
    const r = router({ id: 'a', paths: ['/foo'] });
    expect(r.match(req('/foo'))).toBe('a');
    expect(r.match(req('/foo/'))).toBeUndefined();
    expect(r.match(req('/foobar'))).toBeUndefined();
    expect(r.match(req('/fo'))).toBeUndefined();
  });

  it('treats a trailing * as a byte prefix', () => {
    const r = router({ id: 'p', paths: ['/foo*'] });
    for (const p of ['/foo', '/foo/x', '/foobar', '/foo/a/b/c']) expect(r.match(req(p))).toBe('p');
    expect(r.match(req('/fo'))).toBeUndefined();
    expect(r.match(req('/bar/foo'))).toBeUndefined();
  });

  it('prefers exact over prefix, and the longer prefix over the shorter', () => {
    const r = router(
      { id: 'root', paths: ['/*'] },
      { id: 'api', paths: ['/api/*'] },
      { id: 'apiv1', paths: ['/api/v1/*'] },
      { id: 'exact', paths: ['/api/v1/users'], priority: -100 },
    );
    expect(r.match(req('/api/v1/users'))).toBe('exact');
    expect(r.match(req('/api/v1/users/1'))).toBe('apiv1');
    expect(r.match(req('/api/v2'))).toBe('api');
    expect(r.match(req('/other'))).toBe('root');
  });

  it('uses priority only among routes on the same path', () => {
    const r = router(
      { id: 'low', paths: ['/x/*'], priority: 1 },
      { id: 'high', paths: ['/x/*'], priority: 10 },
      { id: 'shorter-but-high', paths: ['/*'], priority: 1000 },
    );
    expect(r.match(req('/x/1'))).toBe('high');
    r.delete('high');
    expect(r.match(req('/x/1'))).toBe('low');
  });

  it('breaks priority ties by route id, deterministically', () => {
    const r = router({ id: 'b', paths: ['/t'] }, { id: 'a', paths: ['/t'] });
    expect(r.match(req('/t'))).toBe('a');
  });

  it('supports uris (several paths for one route)', () => {
    const r = router({ id: 'multi', paths: ['/a', '/b*'] });
    expect(r.match(req('/a'))).toBe('multi');
    expect(r.match(req('/bcd'))).toBe('multi');
    expect(r.match(req('/c'))).toBeUndefined();
  });

  it('filters by method and falls through to the next candidate', () => {
    const r = router(
      { id: 'post', paths: ['/m'], methods: ['POST'], priority: 5 },
      { id: 'get', paths: ['/m'], methods: ['GET', 'HEAD'] },
      { id: 'prefix', paths: ['/m*'] },
    );
    expect(r.match(req('/m', { method: 'POST' }))).toBe('post');
    expect(r.match(req('/m', { method: 'GET' }))).toBe('get');
    expect(r.match(req('/m', { method: 'DELETE' }))).toBe('prefix');
  });

  it('matches hosts exactly and with a *. wildcard', () => {
    const r = router(
      { id: 'exact-host', paths: ['/*'], hosts: ['api.example.com'] },
      { id: 'wild', paths: ['/*'], hosts: ['*.example.com'] },
    );
    expect(r.match(req('/', { host: 'api.example.com' }))).toBe('exact-host');
    expect(r.match(req('/', { host: 'www.example.com' }))).toBe('wild');
    expect(r.match(req('/', { host: 'a.b.example.com' }))).toBe('wild');
    expect(r.match(req('/', { host: 'example.com' }))).toBeUndefined();
    expect(r.match(req('/', { host: 'other.com' }))).toBeUndefined();
    expect(r.match(req('/'))).toBeUndefined();
  });

  it('lets a route with a matching host beat any host-less route, even a more specific path', () => {
    const r = router(
      { id: 'hostless-exact', paths: ['/exact'], priority: 100 },
      { id: 'hosted-prefix', paths: ['/*'], hosts: ['foo.com'] },
    );
    expect(r.match(req('/exact', { host: 'foo.com' }))).toBe('hosted-prefix');
    expect(r.match(req('/exact', { host: 'bar.com' }))).toBe('hostless-exact');
    expect(r.match(req('/exact'))).toBe('hostless-exact');
  });

  it('falls back to host-less routes when the host group has no matching path', () => {
    const r = router(
      { id: 'hosted', paths: ['/only'], hosts: ['foo.com'] },
      { id: 'hostless', paths: ['/*'] },
    );
    expect(r.match(req('/other', { host: 'foo.com' }))).toBe('hostless');
  });

  it('prefers an exact host over a wildcard, and a longer wildcard over a shorter one', () => {
    const r = router(
      { id: 'short', paths: ['/*'], hosts: ['*.com'] },
      { id: 'long', paths: ['/*'], hosts: ['*.example.com'] },
      { id: 'exact', paths: ['/*'], hosts: ['a.example.com'] },
    );
    expect(r.match(req('/', { host: 'a.example.com' }))).toBe('exact');
    expect(r.match(req('/', { host: 'b.example.com' }))).toBe('long');
    expect(r.match(req('/', { host: 'x.com' }))).toBe('short');
  });

  it('compares hosts case-insensitively (config side)', () => {
    const r = router({ id: 'h', paths: ['/'], hosts: ['API.Example.com'] });
    expect(r.match(req('/', { host: 'api.example.com' }))).toBe('h');
  });

  it('checks remote_addrs (addresses and CIDRs, v4 and v6)', () => {
    const r = router(
      { id: 'lan', paths: ['/r'], remoteAddrs: ['10.0.0.0/8', '::1'] },
      { id: 'any', paths: ['/r*'] },
    );
    expect(r.match(req('/r', { remoteAddr: '10.1.2.3' }))).toBe('lan');
    expect(r.match(req('/r', { remoteAddr: '::1' }))).toBe('lan');
    expect(r.match(req('/r', { remoteAddr: '192.168.0.1' }))).toBe('any');
  });

  it('checks vars expressions', () => {
    const vars: Record<string, string> = { arg_name: 'json', http_x_env: 'prod-eu' };
    const r = router(
      { id: 'json', paths: ['/v'], vars: [['arg_name', '==', 'json'], ['http_x_env', '~~', '^prod']] },
      { id: 'or', paths: ['/v'], priority: -1, vars: ['OR', ['arg_name', '==', 'xml'], ['arg_name', '==', 'yaml']] },
      { id: 'not', paths: ['/v'], priority: -2, vars: [['arg_name', '!', '==', 'json']] },
    );
    expect(r.match(req('/v', { lookupVar: (n) => vars[n] }))).toBe('json');
    expect(r.match(req('/v', { lookupVar: (n) => ({ ...vars, arg_name: 'yaml' })[n] }))).toBe('or');
    expect(r.match(req('/v', { lookupVar: (n) => ({ ...vars, arg_name: 'csv' })[n] }))).toBe('not');
  });

  it('rejects an uncompilable route and keeps the previous version', () => {
    const r = router({ id: 'x', paths: ['/old'] });
    expect(() => r.set({ id: 'x', paths: ['/new'], vars: [['arg_a', 'bogus-op', 1]], payload: 'x2' })).toThrow(/operator/);
    expect(r.match(req('/old'))).toBe('x');
    expect(r.match(req('/new'))).toBeUndefined();
    expect(() => r.set({ id: 'x', paths: ['/new'], remoteAddrs: ['not-an-ip'], payload: 'x2' })).toThrow(/invalid IP/);
    expect(r.match(req('/old'))).toBe('x');
  });

  it('updates incrementally: replacing a route moves it, deleting removes it and empty host groups', () => {
    const r = router({ id: '1', paths: ['/a'], hosts: ['h.com'] }, { id: '2', paths: ['/b'] });
    r.set({ id: '1', paths: ['/c'], payload: '1' });
    expect(r.match(req('/a', { host: 'h.com' }))).toBeUndefined();
    expect(r.match(req('/c'))).toBe('1');
    expect(r.match(req('/b'))).toBe('2');
    expect(r.delete('1')).toBe(true);
    expect(r.delete('1')).toBe(false);
    expect(r.match(req('/c'))).toBeUndefined();
    expect(r.size).toBe(1);
  });
});
