import { mkdtempSync, rmSync } from 'node:fs';
import http from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ConfigStore, DEFAULT_CONFIG, PorticoConfig, deepMerge } from '@portico/core';
import { EmbeddedStore } from '../../../core/src/store/embedded-store';
import { AdminKey, AdminServer, AdminServerOptions, startAdminServer } from '../../src';

export const ADMIN_KEY = 'edd1c9f034335f136f87ad84b625c8f1'; // APISIX's documented default key
export const VIEWER_KEY = '4054f7cf07e344346cd3f287985e76a2';

/** A full config from DEFAULT_CONFIG plus overrides (deep-merged like config.yaml). */
export function testConfig(overrides: unknown = {}): PorticoConfig {
  return deepMerge(structuredClone(DEFAULT_CONFIG), overrides);
}

export const DEFAULT_KEYS: AdminKey[] = [
  { name: 'admin', key: ADMIN_KEY, role: 'admin' },
  { name: 'viewer', key: VIEWER_KEY, role: 'viewer' },
];

export interface Reply {
  status: number;
  headers: Headers;
  text: string;
  /** Parsed body, or undefined when it is not JSON. */
  json: any;
}

export interface Harness {
  store: ConfigStore;
  admin: AdminServer;
  base: string;
  /** A request with the admin key, unless `headers` says otherwise. */
  call(method: string, path: string, body?: unknown, headers?: Record<string, string>): Promise<Reply>;
  close(): Promise<void>;
}

/**
 * The store the admin tests run against: a real EmbeddedStore in a fresh temporary directory.
 * (One place to switch to an etcd-backed run.)
 */
export async function openTestStore(): Promise<{ store: ConfigStore; cleanup(): Promise<void> }> {
  const dir = mkdtempSync(join(tmpdir(), 'portico-admin-'));
  const store = await EmbeddedStore.open(dir);
  return {
    store,
    async cleanup() {
      await store.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

async function toReply(res: Response): Promise<Reply> {
  const text = await res.text();
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    json = undefined;
  }
  return { status: res.status, headers: res.headers, text, json };
}

/** Body `string` is sent as is (so tests can send broken JSON); anything else as JSON. */
export async function request(base: string, method: string, path: string, body?: unknown, headers: Record<string, string> = {}): Promise<Reply> {
  const init: RequestInit = { method, headers };
  if (body !== undefined) init.body = typeof body === 'string' ? body : JSON.stringify(body);
  return toReply(await fetch(base + path, init));
}

/** Starts an admin server on 127.0.0.1:0 over a fresh store (or the one given). */
export async function startHarness(
  opts: Partial<AdminServerOptions> & { store?: ConfigStore } = {},
): Promise<Harness> {
  const owned = opts.store ? undefined : await openTestStore();
  const store = opts.store ?? owned!.store;
  const admin = await startAdminServer({
    config: testConfig({ deployment: { admin: { admin_key_required: true } } }),
    adminKeys: DEFAULT_KEYS,
    host: '127.0.0.1',
    port: 0,
    ...opts,
    store,
  });
  const base = `http://127.0.0.1:${admin.port}`;
  return {
    store,
    admin,
    base,
    call: (method, path, body, headers = { 'X-API-KEY': ADMIN_KEY }) => request(base, method, path, body, headers),
    async close() {
      await admin.close();
      await owned?.cleanup();
    },
  };
}

/**
 * A request whose path goes out byte for byte (fetch would normalise `..` and `%2e`).
 * Resolves with the status and body text.
 */
export function rawRequest(port: number, method: string, path: string, body?: string, headers: Record<string, string> = {}): Promise<{ status: number; text: string }> {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, method, path, headers: { 'X-API-KEY': ADMIN_KEY, ...headers } }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString('utf8') }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(body);
  });
}
