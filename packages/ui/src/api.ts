/**
 * The dashboard's only way out: the Admin API on the page's own origin. The admin key lives
 * in sessionStorage, so it lasts for this tab only and is never written anywhere else.
 */

const KEY_STORE = 'portico.adminKey';
export const ADMIN = '/apisix/admin';

export function storedKey(): string | null {
  try {
    return sessionStorage.getItem(KEY_STORE);
  } catch {
    return null;
  }
}

export function storeKey(key: string | null): void {
  try {
    if (key === null) sessionStorage.removeItem(KEY_STORE);
    else sessionStorage.setItem(KEY_STORE, key);
  } catch {
    // storage disabled: the key then lasts until the page is reloaded
  }
  memoryKey = key;
}

let memoryKey: string | null = storedKey();

export class ApiError extends Error {
  constructor(readonly status: number, message: string, readonly body: unknown) {
    super(message);
  }
}

export interface ApiReply<T> {
  status: number;
  data: T;
  headers: Headers;
}

/** Listeners told when the API answers 401: the key stopped working (rotated, or wrong). */
const unauthorizedListeners = new Set<() => void>();
export function onUnauthorized(fn: () => void): () => void {
  unauthorizedListeners.add(fn);
  return () => unauthorizedListeners.delete(fn);
}

function messageOf(body: unknown, status: number): string {
  if (typeof body === 'string' && body.trim() !== '') return body.trim();
  if (body && typeof body === 'object') {
    const b = body as Record<string, unknown>;
    if (typeof b.error_msg === 'string') return b.error_msg;
    if (typeof b.message === 'string') return b.message;
  }
  return `HTTP ${status}`;
}

export async function api<T = unknown>(method: string, path: string, body?: unknown, opts: { key?: string | null; quiet401?: boolean } = {}): Promise<ApiReply<T>> {
  const headers: Record<string, string> = { accept: 'application/json' };
  const key = opts.key !== undefined ? opts.key : memoryKey;
  if (key) headers['x-api-key'] = key;
  if (body !== undefined) headers['content-type'] = 'application/json';
  const res = await fetch(path.startsWith('/') ? path : `${ADMIN}/${path}`, {
    method,
    headers,
    body: body === undefined ? undefined : JSON.stringify(body),
    credentials: 'omit',
    cache: 'no-store',
  });
  const text = await res.text();
  let data: unknown = text;
  try {
    data = text === '' ? null : JSON.parse(text);
  } catch {
    // plain-text answer (APISIX's paging error)
  }
  if (!res.ok) {
    if (res.status === 401 && !opts.quiet401) for (const fn of unauthorizedListeners) fn();
    throw new ApiError(res.status, messageOf(data, res.status), data);
  }
  return { status: res.status, data: data as T, headers: res.headers };
}

export interface WhoAmI {
  role: 'admin' | 'viewer';
  key_required: boolean;
}

export async function whoami(key: string | null): Promise<WhoAmI> {
  return (await api<WhoAmI>('GET', 'auth/whoami', undefined, { key, quiet401: true })).data;
}

/** One stored item as list and get answer it. */
export interface Item<V = Record<string, unknown>> {
  key: string;
  value: V;
  createdIndex?: number;
  modifiedIndex?: number;
}

export interface ListReply<V = Record<string, unknown>> {
  total: number;
  list: Array<Item<V>>;
}
