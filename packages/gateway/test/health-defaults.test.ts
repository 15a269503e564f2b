import { resolveChecks } from '../src/upstream/health/config';

/**
 * Every health-check default against APISIX's source: `apisix/schema_def.lua`, the
 * `health_checker` schema of the upstream (apache/apisix, read at commit b3f40b19). Each row is
 * one `default = ...` of that schema; a stored upstream carries only what the user set, so
 * resolveChecks must supply exactly these.
 */

const PASSIVE_HEALTHY_STATUSES = [200, 201, 202, 203, 204, 205, 206, 207, 208, 226, 300, 301, 302, 303, 304, 305, 306, 307, 308];

const ACTIVE_DEFAULTS: Array<[path: string, expected: unknown]> = [
  ['type', 'http'],
  ['timeout', 1],
  ['concurrency', 10],
  ['http_path', '/'],
  ['https_verify_certificate', true],
  ['healthy.interval', 1],
  ['healthy.successes', 2],
  ['healthy.http_statuses', [200, 302]],
  ['unhealthy.interval', 1],
  ['unhealthy.http_failures', 5],
  ['unhealthy.tcp_failures', 2],
  ['unhealthy.timeouts', 3],
  ['unhealthy.http_statuses', [429, 404, 500, 501, 502, 503, 504, 505]],
];

const PASSIVE_DEFAULTS: Array<[path: string, expected: unknown]> = [
  ['type', 'http'],
  ['healthy.successes', 5],
  ['healthy.http_statuses', PASSIVE_HEALTHY_STATUSES],
  ['unhealthy.http_failures', 5],
  ['unhealthy.tcp_failures', 2],
  ['unhealthy.timeouts', 7],
  ['unhealthy.http_statuses', [429, 500, 503]],
];

function at(obj: unknown, path: string): unknown {
  return path.split('.').reduce<unknown>((o, k) => (o as Record<string, unknown> | undefined)?.[k], obj);
}

/** `{a: {b: v}}` for path `a.b`. */
function nested(path: string, value: unknown): Record<string, unknown> {
  return path.split('.').reduceRight<unknown>((v, k) => ({ [k]: v }), value) as Record<string, unknown>;
}

/** A value other than the default, valid for the field. */
function other(expected: unknown): unknown {
  if (typeof expected === 'number') return expected + 1;
  if (typeof expected === 'boolean') return !expected;
  if (Array.isArray(expected)) return [599];
  return expected === 'http' ? 'tcp' : '/other';
}

describe('health-check defaults are APISIX\'s (apisix/schema_def.lua, health_checker)', () => {
  // `{}` sections (and missing nested objects) get every default.
  const active = resolveChecks({ active: {} })!.active!;
  const passive = resolveChecks({ active: {}, passive: {} })!.passive!;

  test.each(ACTIVE_DEFAULTS)('active.%s defaults to %j', (path, expected) => {
    expect(at(active, path)).toEqual(expected);
  });

  test.each(PASSIVE_DEFAULTS)('passive.%s defaults to %j', (path, expected) => {
    expect(at(passive, path)).toEqual(expected);
  });

  test.each(ACTIVE_DEFAULTS)('a set active.%s is kept and its siblings still default', (path) => {
    const expected = ACTIVE_DEFAULTS.find(([p]) => p === path)![1];
    const value = other(expected);
    const resolved = resolveChecks({ active: nested(path, value) })!.active!;
    expect(at(resolved, path)).toEqual(value);
    for (const [p, d] of ACTIVE_DEFAULTS) if (p !== path) expect([p, at(resolved, p)]).toEqual([p, d]);
  });

  test.each(PASSIVE_DEFAULTS)('a set passive.%s is kept and its siblings still default', (path) => {
    const expected = PASSIVE_DEFAULTS.find(([p]) => p === path)![1];
    const value = other(expected);
    const resolved = resolveChecks({ active: {}, passive: nested(path, value) })!.passive!;
    expect(at(resolved, path)).toEqual(value);
    for (const [p, d] of PASSIVE_DEFAULTS) if (p !== path) expect([p, at(resolved, p)]).toEqual([p, d]);
  });

  test('no checks, or checks without active and passive, means no health checking', () => {
    expect(resolveChecks(undefined)).toBeUndefined();
    expect(resolveChecks({})).toBeUndefined();
    expect(resolveChecks({ active: {} })!.passive).toBeUndefined();
  });
});
