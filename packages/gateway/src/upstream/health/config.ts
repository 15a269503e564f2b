/**
 * `checks` of an upstream (SPEC §4) with APISIX's defaults applied. The defaults are those of
 * APISIX's upstream schema (`apisix/schema_def.lua`, `health_checker`), which lua-resty-healthcheck
 * then runs; they are spelled out here because a stored upstream carries only what the user set.
 * Checked value by value against apache/apisix `apisix/schema_def.lua` (commit b3f40b19):
 * test/health-defaults.test.ts holds one row per `default = ...` of that schema.
 */

export type CheckType = 'http' | 'https' | 'tcp';

export interface ActiveChecks {
  type: CheckType;
  /** Probe timeout, seconds. */
  timeout: number;
  /** Probes run at the same time per upstream. */
  concurrency: number;
  http_path: string;
  /** Host header of http(s) probes (default: the node's host). */
  host?: string;
  /** Probe this port instead of the node's. */
  port?: number;
  https_verify_certificate: boolean;
  req_headers: string[];
  healthy: { interval: number; successes: number; http_statuses: number[] };
  unhealthy: { interval: number; http_failures: number; tcp_failures: number; timeouts: number; http_statuses: number[] };
}

export interface PassiveChecks {
  type: CheckType;
  healthy: { successes: number; http_statuses: number[] };
  unhealthy: { http_failures: number; tcp_failures: number; timeouts: number; http_statuses: number[] };
}

export interface ResolvedChecks {
  active?: ActiveChecks;
  passive?: PassiveChecks;
}

/** What may be stored: any subset of the resolved shape. */
export interface ChecksConf {
  active?: Partial<Omit<ActiveChecks, 'healthy' | 'unhealthy'>> & {
    healthy?: Partial<ActiveChecks['healthy']>;
    unhealthy?: Partial<ActiveChecks['unhealthy']>;
  };
  passive?: Partial<Omit<PassiveChecks, 'healthy' | 'unhealthy'>> & {
    healthy?: Partial<PassiveChecks['healthy']>;
    unhealthy?: Partial<PassiveChecks['unhealthy']>;
  };
}

/** APISIX's passive "healthy" statuses: the 2xx and 3xx codes nginx knows. */
const PASSIVE_HEALTHY = [200, 201, 202, 203, 204, 205, 206, 207, 208, 226, 300, 301, 302, 303, 304, 305, 306, 307, 308];

export function resolveChecks(conf: ChecksConf | undefined): ResolvedChecks | undefined {
  if (!conf || (!conf.active && !conf.passive)) return undefined;
  const out: ResolvedChecks = {};
  const a = conf.active;
  if (a) {
    out.active = {
      type: a.type ?? 'http',
      timeout: a.timeout ?? 1,
      concurrency: a.concurrency ?? 10,
      http_path: a.http_path ?? '/',
      host: a.host,
      port: a.port,
      https_verify_certificate: a.https_verify_certificate ?? true,
      req_headers: a.req_headers ?? [],
      healthy: {
        interval: a.healthy?.interval ?? 1,
        successes: a.healthy?.successes ?? 2,
        http_statuses: a.healthy?.http_statuses ?? [200, 302],
      },
      unhealthy: {
        interval: a.unhealthy?.interval ?? 1,
        http_failures: a.unhealthy?.http_failures ?? 5,
        tcp_failures: a.unhealthy?.tcp_failures ?? 2,
        timeouts: a.unhealthy?.timeouts ?? 3,
        http_statuses: a.unhealthy?.http_statuses ?? [429, 404, 500, 501, 502, 503, 504, 505],
      },
    };
  }
  const p = conf.passive;
  if (p) {
    out.passive = {
      type: p.type ?? 'http',
      healthy: {
        successes: p.healthy?.successes ?? 5,
        http_statuses: p.healthy?.http_statuses ?? PASSIVE_HEALTHY,
      },
      unhealthy: {
        http_failures: p.unhealthy?.http_failures ?? 5,
        tcp_failures: p.unhealthy?.tcp_failures ?? 2,
        timeouts: p.unhealthy?.timeouts ?? 7,
        http_statuses: p.unhealthy?.http_statuses ?? [429, 500, 503],
      },
    };
  }
  return out;
}
