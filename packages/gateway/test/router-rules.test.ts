import fc from 'fast-check';
import { compileExpr } from '@portico/core';
import { indexSize } from '../src/routing/exact-index';
import { parsePath, Router, type MatchRequest, type RouteSpec } from '../src/routing/router';

type Spec = Omit<RouteSpec<string>, 'payload'>;

function router(...specs: Spec[]): Router<string> {
  const r = new Router<string>();
  r.batch(() => {
    for (const s of specs) r.set({ ...s, payload: s.id });
  });
  return r;
}

function req(path: string, extra: Partial<MatchRequest> = {}): MatchRequest {
  return { method: 'GET', path, host: undefined, remoteAddr: '127.0.0.1', ...extra };
}

/**
 * SPEC §6, one row per rule: the routes, then requests and the route id each must match
 * (undefined = 404).
 */
const RULES: Array<{ rule: string; routes: Spec[]; cases: Array<[Partial<MatchRequest> & { path: string }, string | undefined]> }> = [
  {
    rule: 'a path without * matches exactly',
    routes: [{ id: 'e', paths: ['/foo'] }],
    cases: [[{ path: '/foo' }, 'e'], [{ path: '/foo/' }, undefined], [{ path: '/foobar' }, undefined], [{ path: '/fo' }, undefined]],
  },
  {
    rule: 'a trailing * is a byte prefix (/foo* matches /foo, /foo/x, /foobar)',
    routes: [{ id: 'p', paths: ['/foo*'] }],
    cases: [[{ path: '/foo' }, 'p'], [{ path: '/foo/x' }, 'p'], [{ path: '/foobar' }, 'p'], [{ path: '/fo' }, undefined]],
  },
  {
    rule: 'exact beats prefix, whatever the priorities',
    routes: [{ id: 'prefix', paths: ['/a*'], priority: 100 }, { id: 'exact', paths: ['/a/b'], priority: -100 }],
    cases: [[{ path: '/a/b' }, 'exact'], [{ path: '/a/bc' }, 'prefix']],
  },
  {
    rule: 'a longer prefix beats a shorter one, whatever the priorities',
    routes: [{ id: 'short', paths: ['/*'], priority: 100 }, { id: 'long', paths: ['/api/*'] }, { id: 'longer', paths: ['/api/v1*'] }],
    cases: [[{ path: '/api/v1/x' }, 'longer'], [{ path: '/api/v2' }, 'long'], [{ path: '/x' }, 'short']],
  },
  {
    rule: ':name matches exactly one non-empty segment',
    routes: [{ id: 'user', paths: ['/user/:id'] }, { id: 'orders', paths: ['/user/:id/orders/:oid'] }],
    cases: [
      [{ path: '/user/42' }, 'user'], [{ path: '/user/42/orders/7' }, 'orders'], [{ path: '/user/' }, undefined],
      [{ path: '/user/42/x' }, undefined], [{ path: '/user/42/orders/' }, undefined],
    ],
  },
  {
    rule: 'a :param path ending in * takes any rest',
    routes: [{ id: 'files', paths: ['/u/:id/files/*'] }],
    cases: [[{ path: '/u/1/files/a/b' }, 'files'], [{ path: '/u/1/files/' }, 'files'], [{ path: '/u/1/other' }, undefined]],
  },
  {
    rule: 'an exact path beats a :param path; a :param path beats a bare * on the same anchor',
    routes: [{ id: 'me', paths: ['/user/me'] }, { id: 'param', paths: ['/user/:id'] }, { id: 'star', paths: ['/user/*'], priority: 50 }],
    cases: [[{ path: '/user/me' }, 'me'], [{ path: '/user/7' }, 'param'], [{ path: '/user/7/x' }, 'star']],
  },
  {
    rule: 'priority decides only among routes on the same path; ties by id',
    routes: [{ id: 'b', paths: ['/t'], priority: 1 }, { id: 'c', paths: ['/t'], priority: 5 }, { id: 'a', paths: ['/u'] }, { id: 'z', paths: ['/u'] }],
    cases: [[{ path: '/t' }, 'c'], [{ path: '/u' }, 'a']],
  },
  {
    rule: 'a route with a matching host beats any route without a host (even a more specific path)',
    routes: [{ id: 'hostless', paths: ['/exact'], priority: 100 }, { id: 'hosted', paths: ['/*'], hosts: ['foo.com'] }],
    cases: [[{ path: '/exact', host: 'foo.com' }, 'hosted'], [{ path: '/exact', host: 'bar.com' }, 'hostless'], [{ path: '/exact' }, 'hostless']],
  },
  {
    rule: 'exact host, then *. wildcards longest first; a wildcard needs a non-empty label',
    routes: [
      { id: 'com', paths: ['/*'], hosts: ['*.com'] }, { id: 'wild', paths: ['/*'], hosts: ['*.example.com'] },
      { id: 'exact', paths: ['/*'], hosts: ['a.example.com'] },
    ],
    cases: [
      [{ path: '/', host: 'a.example.com' }, 'exact'], [{ path: '/', host: 'b.example.com' }, 'wild'],
      [{ path: '/', host: 'x.y.example.com' }, 'wild'], [{ path: '/', host: 'example.com' }, 'com'],
      [{ path: '/', host: '.com' }, undefined], [{ path: '/', host: 'x.org' }, undefined],
    ],
  },
  {
    rule: 'a host group without a matching path falls back to host-less routes',
    routes: [{ id: 'hosted', paths: ['/only'], hosts: ['foo.com'] }, { id: 'any', paths: ['/*'] }],
    cases: [[{ path: '/only', host: 'foo.com' }, 'hosted'], [{ path: '/other', host: 'foo.com' }, 'any']],
  },
  {
    rule: 'methods filter candidates, and the next candidate is tried',
    routes: [{ id: 'post', paths: ['/m'], methods: ['POST'], priority: 5 }, { id: 'get', paths: ['/m'], methods: ['GET'] }, { id: 'p', paths: ['/m*'] }],
    cases: [[{ path: '/m', method: 'POST' }, 'post'], [{ path: '/m', method: 'GET' }, 'get'], [{ path: '/m', method: 'PUT' }, 'p']],
  },
  {
    rule: 'remote_addrs: addresses and CIDRs, IPv4 and IPv6',
    routes: [{ id: 'lan', paths: ['/r'], remoteAddrs: ['10.0.0.0/8', '2001:db8::/32', '::1'] }],
    cases: [
      [{ path: '/r', remoteAddr: '10.9.8.7' }, 'lan'], [{ path: '/r', remoteAddr: '2001:db8::5' }, 'lan'],
      [{ path: '/r', remoteAddr: '::1' }, 'lan'], [{ path: '/r', remoteAddr: '11.0.0.1' }, undefined],
      [{ path: '/r', remoteAddr: '2001:db9::1' }, undefined],
    ],
  },
  {
    rule: 'vars must hold',
    routes: [{ id: 'v', paths: ['/v'], vars: [['arg_x', '==', '1']] }],
    cases: [
      [{ path: '/v', lookupVar: (n) => (n === 'arg_x' ? '1' : undefined) }, 'v'],
      [{ path: '/v', lookupVar: () => '2' }, undefined],
    ],
  },
];

describe('Router: SPEC §6 rules', () => {
  for (const { rule, routes, cases } of RULES) {
    it(rule, () => {
      const r = router(...routes);
      for (const [request, expected] of cases) {
        expect({ request: request.path, host: request.host, got: r.match(req(request.path, request)) })
          .toEqual({ request: request.path, host: request.host, got: expected });
      }
    });
  }

  it('ignores routes removed by status 0 (the tables delete them) and answers undefined for no route', () => {
    const r = router({ id: 'a', paths: ['/a'] });
    r.delete('a');
    expect(r.match(req('/a'))).toBeUndefined();
  });
});

describe('parsePath', () => {
  it.each([
    ['/foo', { key: '/foo', kind: 'exact', open: false }],
    ['/foo*', { key: '/foo', kind: 'anchored', open: true }],
    ['/a/:id', { key: '/a/', kind: 'anchored', open: false, tokens: [null] }],
    ['/a/:id/b/:c*', { key: '/a/', kind: 'anchored', open: true, tokens: [null, '/b/', null] }],
    ['/a:b', { key: '/a:b', kind: 'exact', open: false }],
  ])('%s', (path, expected) => {
    expect(parsePath(path)).toEqual(expected);
  });
});

describe('Router: incremental, copy-on-write updates', () => {
  it('a snapshot keeps matching the version it pinned while updates publish new ones', () => {
    const r = router({ id: 'a', paths: ['/a*'] }, { id: 'b', paths: ['/b'], hosts: ['h.com'] });
    const before = r.snapshot();
    r.set({ id: 'a', paths: ['/z'], payload: 'a2' });
    r.set({ id: 'c', paths: ['/b'], hosts: ['h.com'], priority: 9, payload: 'c' });
    r.delete('b');
    expect(before.match(req('/a/x'))).toBe('a');
    expect(before.match(req('/b', { host: 'h.com' }))).toBe('b');
    expect(r.match(req('/a/x'))).toBeUndefined();
    expect(r.match(req('/z'))).toBe('a2');
    expect(r.match(req('/b', { host: 'h.com' }))).toBe('c');
  });

  it('a batch publishes once: readers see none of it until it returns', () => {
    const r = router({ id: 'a', paths: ['/a'] });
    const v0 = r.version;
    let seenInside: string | undefined = 'unset';
    r.batch(() => {
      r.set({ id: 'b', paths: ['/b'], payload: 'b' });
      r.delete('a');
      seenInside = r.match(req('/b'));
      expect(r.match(req('/a'))).toBe('a');
    });
    expect(seenInside).toBeUndefined();
    expect(r.version).toBe(v0 + 1);
    expect(r.match(req('/b'))).toBe('b');
    expect(r.match(req('/a'))).toBeUndefined();
  });

  it('removing routes removes their keys: the index returns to its size', () => {
    const r = router({ id: 'x', paths: ['/api/users*'] }, { id: 'y', paths: ['/api/orders*'] });
    const keys = () => indexSize((r as unknown as { state: { index: Parameters<typeof indexSize>[0] } }).state.index);
    const size = keys();
    r.set({ id: 'z', paths: ['/api/use*', '/api/users/:id', '/b*', '/c'], hosts: ['h.com', '*.w.com'], payload: 'z' });
    expect(keys()).toBeGreaterThan(size);
    r.delete('z');
    expect(keys()).toBe(size);
    expect(r.match(req('/api/users'))).toBe('x');
    expect(r.match(req('/api/orders/1'))).toBe('y');
  });
});

/**
 * The tree against a linear reference matcher with the same rules, over random route sets and
 * random add/replace/delete sequences (splits and merges of edges are where tree bugs live).
 */
describe('Router: agrees with a linear reference', () => {
  interface R { id: string; path: string; host?: string; priority: number }

  function reference(routes: Map<string, R>, path: string, host?: string): string | undefined {
    const groups: Array<(r: R) => boolean> = [];
    if (host !== undefined) {
      groups.push((r) => r.host === host);
      for (let d = host.indexOf('.', 1); d > 0; d = host.indexOf('.', d + 1)) {
        const suffix = host.slice(d);
        groups.push((r) => r.host === `*${suffix}`);
      }
    }
    groups.push((r) => r.host === undefined);
    for (const inGroup of groups) {
      const cands: Array<{ r: R; anchor: number; parsed: ReturnType<typeof parsePath> }> = [];
      for (const r of routes.values()) {
        if (!inGroup(r)) continue;
        const parsed = parsePath(r.path);
        if (parsed.kind === 'exact' ? parsed.key === path : path.startsWith(parsed.key) && restFits(parsed, path)) {
          cands.push({ r, anchor: parsed.kind === 'exact' ? Infinity : parsed.key.length, parsed });
        }
      }
      cands.sort((a, b) => b.anchor - a.anchor
        || (a.r.path !== b.r.path
          ? (a.parsed.tokens ? 0 : 1) - (b.parsed.tokens ? 0 : 1) || Number(a.parsed.open) - Number(b.parsed.open)
            || b.r.path.length - a.r.path.length || (a.r.path < b.r.path ? -1 : 1)
          : b.r.priority - a.r.priority || (a.r.id < b.r.id ? -1 : 1)));
      if (cands.length > 0) return cands[0].r.id;
    }
    return undefined;
  }

  function restFits(p: ReturnType<typeof parsePath>, path: string): boolean {
    if (!p.tokens) return true;
    const re = new RegExp('^' + p.tokens.map((t) => (t === null ? '[^/]+' : t.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'))).join('') + (p.open ? '' : '$'));
    return re.test(path.slice(p.key.length));
  }

  const seg = fc.constantFrom('a', 'ab', 'abc', 'b', 'ba', ':p');
  const pathArb = fc.tuple(fc.array(seg, { minLength: 0, maxLength: 3 }), fc.boolean()).map(([segs, star]) => {
    const p = '/' + segs.join('/');
    return star ? p + '*' : p;
  });
  const reqPathArb = fc.array(fc.constantFrom('a', 'ab', 'abc', 'b', 'ba', 'x'), { maxLength: 4 }).map((s) => '/' + s.join('/'));
  const hostArb = fc.option(fc.constantFrom('h.com', 'x.h.com', '*.h.com', '*.com'), { nil: undefined });
  const op = fc.record({
    id: fc.constantFrom('1', '2', '3', '4', '5', '6', '7', '8'),
    path: pathArb,
    host: hostArb,
    priority: fc.integer({ min: 0, max: 2 }),
    del: fc.boolean(),
  });

  it('matches like the reference after every change', () => {
    fc.assert(fc.property(fc.array(op, { maxLength: 25 }), fc.array(fc.tuple(reqPathArb, fc.option(fc.constantFrom('h.com', 'x.h.com', 'y.x.h.com', 'o.com'), { nil: undefined })), { minLength: 5, maxLength: 10 }), (ops, reqs) => {
      const r = new Router<string>();
      const model = new Map<string, R>();
      for (const o of ops) {
        if (o.del) {
          r.delete(o.id);
          model.delete(o.id);
        } else {
          r.set({ id: o.id, paths: [o.path], hosts: o.host ? [o.host] : undefined, priority: o.priority, payload: o.id });
          model.set(o.id, { id: o.id, path: o.path, host: o.host, priority: o.priority });
        }
        for (const [p, h] of reqs) {
          expect({ p, h, got: r.match(req(p, { host: h })) }).toEqual({ p, h, got: reference(model, p, h) });
        }
      }
    }), { numRuns: 300 });
  });
});

describe('vars expressions (APISIX lua-resty-expr operators)', () => {
  const vars: Record<string, string> = {
    arg_name: 'json', arg_n: '15', http_x_env: 'Prod-eu', remote_addr: '10.1.2.3', http_accept: 'text/html, application/json',
  };
  const src = { lookupVar: (n: string) => vars[n] };
  it.each<[string, unknown, boolean]>([
    ['==', [['arg_name', '==', 'json']], true],
    ['== missing var', [['arg_nope', '==', 'json']], false],
    ['~= differs', [['arg_name', '~=', 'xml']], true],
    ['~= same', [['arg_name', '~=', 'json']], false],
    ['> number', [['arg_n', '>', 10]], true],
    ['< number', [['arg_n', '<', 10]], false],
    ['>= boundary', [['arg_n', '>=', 15]], true],
    ['<= boundary', [['arg_n', '<=', 14]], false],
    ['~~ regex', [['http_x_env', '~~', '^Prod']], true],
    ['~~ is case-sensitive', [['http_x_env', '~~', '^prod']], false],
    ['~* ignores case', [['http_x_env', '~*', '^prod']], true],
    ['in', [['arg_name', 'in', ['xml', 'json']]], true],
    ['in (absent)', [['arg_name', 'in', ['xml']]], false],
    ['has (list value)', [['http_accept', 'has', 'application/json']], true],
    ['has (absent)', [['http_accept', 'has', 'text/plain']], false],
    ['ipmatch CIDR', [['remote_addr', 'ipmatch', ['10.0.0.0/8']]], true],
    ['ipmatch miss', [['remote_addr', 'ipmatch', ['192.168.0.0/16', '::1']]], false],
    ['! negates', [['arg_name', '!', '==', 'xml']], true],
    ['AND of all (implicit)', [['arg_name', '==', 'json'], ['arg_n', '>', 20]], false],
    ['OR', ['OR', ['arg_name', '==', 'xml'], ['arg_n', '>', 10]], true],
    ['!OR', ['!OR', ['arg_name', '==', 'xml'], ['arg_n', '>', 10]], false],
    ['!AND', ['!AND', ['arg_name', '==', 'json'], ['arg_n', '>', 20]], true],
    ['nested', ['AND', ['OR', ['arg_name', '==', 'x'], ['arg_name', '==', 'json']], ['!AND', ['arg_n', '<', 0]]], true],
  ])('%s', (_name, expr, expected) => {
    expect(compileExpr(expr)(src)).toBe(expected);
  });

  it.each<[unknown, RegExp]>([
    [[['a', 'bogus', 1]], /operator/],
    [[['a', '>', 'x']], /number/],
    [[['a', '~~', '(']], /Invalid regular expression|regex/],
    [[['a', 'in', 'x']], /array/],
    [[['a', 'ipmatch', ['nope']]], /invalid IP/],
    ['notalist', /array/],
  ])('rejects %j', (expr, message) => {
    expect(() => compileExpr(expr)).toThrow(message);
  });
});
