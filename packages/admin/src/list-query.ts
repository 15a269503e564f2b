import { AdminError, badRequest } from './errors';
import { RegexError, matchEach } from './bounded-regex';

/** Paging and filters of a list request (SPEC §3.4). */
export interface ListQuery {
  /** Set only when both `page` and `page_size` are given. */
  paging?: { page: number; pageSize: number };
  /** Regex on `value.name`. */
  name?: string;
  /** A label key that must be present in `value.labels`. */
  label?: string;
  /** Regex on `value.uri` or any of `value.uris`. */
  uri?: string;
}

export interface ListEntry {
  value: unknown;
}

/** A parsed query string, as Koa gives it (a repeated parameter is an array). */
export type QueryParams = Record<string, string | string[] | undefined>;

const PAGE_SIZE_MIN = 10;
const PAGE_SIZE_MAX = 500;

/** A repeated parameter counts once, with its first value. */
function first(v: string | string[] | undefined): string | undefined {
  return Array.isArray(v) ? v[0] : v;
}

/** Lua's `tonumber`, as APISIX reads page parameters: a number or nothing. */
function toNumber(v: string | undefined): number | undefined {
  if (v === undefined || v.trim() === '') return undefined;
  const n = Number(v);
  return Number.isFinite(n) ? n : undefined;
}

/**
 * Reads the query. A `page_size` outside 10–500 (with `page` given too) is 400 with APISIX's
 * plain-text body; a page below 1 is page 1.
 */
export function parseListQuery(query: QueryParams): ListQuery {
  const q: ListQuery = {};
  const page = toNumber(first(query.page));
  const pageSize = toNumber(first(query.page_size));
  if (page !== undefined && pageSize !== undefined) {
    if (pageSize < PAGE_SIZE_MIN || pageSize > PAGE_SIZE_MAX) {
      throw new AdminError(400, `page_size must be between ${PAGE_SIZE_MIN} and ${PAGE_SIZE_MAX}`);
    }
    q.paging = { page: Math.max(1, Math.floor(page)), pageSize: Math.floor(pageSize) };
  }
  for (const key of ['name', 'label', 'uri'] as const) {
    const v = first(query[key]);
    if (v !== undefined) q[key] = v;
  }
  return q;
}

function field(value: unknown, name: string): unknown {
  return typeof value === 'object' && value !== null && Object.hasOwn(value, name) ? (value as Record<string, unknown>)[name] : undefined;
}

function strings(...values: unknown[]): string[] {
  const out: string[] = [];
  for (const v of values) {
    if (typeof v === 'string') out.push(v);
    else if (Array.isArray(v)) out.push(...v.filter((s): s is string => typeof s === 'string'));
  }
  return out;
}

function regexFilter(param: 'name' | 'uri', pattern: string, subjects: string[][]): boolean[] {
  try {
    return matchEach(pattern, subjects);
  } catch (err) {
    if (err instanceof RegexError) throw badRequest(`invalid ${param} filter: ${err.message}`);
    throw err;
  }
}

/**
 * Filters then pages `items` (already in createdIndex order). `total` counts the filtered
 * items, before paging. Portico differs: an invalid or runaway regex is a 400 naming the
 * parameter, where APISIX silently matches nothing.
 */
export function applyListQuery<T extends ListEntry>(items: readonly T[], q: ListQuery): { list: T[]; total: number } {
  let keep = items.map(() => true);
  if (q.name !== undefined) {
    const hits = regexFilter('name', q.name, items.map((i) => strings(field(i.value, 'name'))));
    keep = keep.map((k, i) => k && hits[i]);
  }
  if (q.uri !== undefined) {
    const hits = regexFilter('uri', q.uri, items.map((i) => strings(field(i.value, 'uri'), field(i.value, 'uris'))));
    keep = keep.map((k, i) => k && hits[i]);
  }
  if (q.label !== undefined) {
    const label = q.label;
    keep = keep.map((k, i) => {
      const labels = field(items[i].value, 'labels');
      return k && typeof labels === 'object' && labels !== null && Object.hasOwn(labels, label);
    });
  }
  const filtered = items.filter((_, i) => keep[i]);
  if (!q.paging) return { list: filtered, total: filtered.length };
  const from = (q.paging.page - 1) * q.paging.pageSize;
  return { list: filtered.slice(from, from + q.paging.pageSize), total: filtered.length };
}
