import { randomInt } from 'node:crypto';
import { chmodSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ConfigError, PorticoConfig } from '@portico/core';
import { isLoopback } from './cidr';

export type AdminRole = 'admin' | 'viewer';

export interface AdminKey {
  name: string;
  key: string;
  role: AdminRole;
}

export interface ResolvedAdminKeys {
  /** Keys the admin API accepts; entries whose key stays empty are dropped (never match). */
  keys: AdminKey[];
  /** Set only when a key was generated on this start: the caller prints it, once. */
  generatedKey?: string;
  /** `<dataDir>/admin.key`, when an empty admin key was filled from it. */
  keyFile?: string;
}

const KEY_FILE = 'admin.key';
const KEY_LENGTH = 32;
const ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';

/**
 * SPEC §1: an empty `key` on a `role: admin` entry is replaced by a random 32-character key,
 * kept in `<dataDir>/admin.key` (mode 0600) so it survives restarts. Portico differs from
 * APISIX here, which rewrites config.yaml: the operator's file is never modified.
 */
export function resolveAdminKeys(config: PorticoConfig, dataDir: string): ResolvedAdminKeys {
  const entries = config.deployment.admin.admin_key ?? [];
  const needsKey = entries.some((e) => e.role === 'admin' && !e.key);
  let fileKey: string | undefined;
  let generatedKey: string | undefined;
  let keyFile: string | undefined;
  if (needsKey) {
    keyFile = join(dataDir, KEY_FILE);
    fileKey = readKeyFile(keyFile);
    if (!fileKey) {
      fileKey = generatedKey = randomKey();
      mkdirSync(dataDir, { recursive: true });
      writeFileSync(keyFile, `${fileKey}\n`, { mode: 0o600 });
      chmodSync(keyFile, 0o600); // `mode` only applies when the file is created
    }
  }
  const keys = entries
    .map((e) => ({ name: e.name, role: e.role, key: e.key || (e.role === 'admin' ? fileKey ?? '' : '') }))
    .filter((e) => e.key !== '');
  return { keys, generatedKey, keyFile };
}

function readKeyFile(path: string): string | undefined {
  try {
    return readFileSync(path, 'utf8').trim() || undefined;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new ConfigError(`cannot read the admin key file ${path}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
}

function randomKey(): string {
  let key = '';
  for (let i = 0; i < KEY_LENGTH; i++) key += ALPHABET[randomInt(ALPHABET.length)];
  return key;
}

/**
 * Start-up guard (SPEC §1): keyless admin access exists for developer machines only, so a
 * non-loopback admin listener must come with a way to authenticate. Throws ConfigError naming
 * the settings to change. Call it before resolveAdminKeys, on the configuration as written.
 */
export function checkAdminListenSafety(config: PorticoConfig): void {
  const admin = config.deployment.admin;
  const ip = adminListenIp(config);
  if (isLoopback(ip)) return;
  const entries = admin.admin_key ?? [];
  const hasKey = entries.some((e) => !!e.key);
  if (admin.admin_key_required === false && !hasKey) {
    throw new ConfigError(
      `config.yaml: deployment.admin.admin_key_required is false but deployment.admin.admin_listen.ip ${ip} is not a loopback address; ` +
        'keyless admin access is allowed on loopback only: set a non-empty deployment.admin.admin_key, or listen on 127.0.0.1');
  }
  // With keys required, an empty admin entry gets a generated key; with no admin entry at all
  // nobody could ever authenticate, which is a configuration mistake worth stopping for.
  if (!hasKey && !entries.some((e) => e.role === 'admin')) {
    throw new ConfigError(
      `config.yaml: deployment.admin.admin_listen.ip ${ip} is not a loopback address and deployment.admin.admin_key has no usable key; ` +
        'add an entry with role admin');
  }
}

/** Keyless access (SPEC §1): only when keys are not required AND the listener is loopback. */
export function keylessAllowed(config: PorticoConfig, listenIp: string): boolean {
  return config.deployment.admin.admin_key_required === false && isLoopback(listenIp);
}

/** The admin listener's address; the server binds loopback when config.yaml names none. */
export function adminListenIp(config: PorticoConfig): string {
  return config.deployment.admin.admin_listen.ip ?? '127.0.0.1';
}
