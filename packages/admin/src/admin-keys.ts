import { randomInt } from 'node:crypto';
import { chmodSync, closeSync, fchmodSync, mkdirSync, openSync, readFileSync, statSync, writeSync } from 'node:fs';
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
  /** True when the key was generated on this start (the caller logs where it is, never the key). */
  generated: boolean;
  /** `<dataDir>/admin.key`, when an empty admin key was filled from it. */
  keyFile?: string;
}

const KEY_FILE = 'admin.key';
const KEY_LENGTH = 32;
const ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';

/**
 * SPEC §1, §12: an empty `key` on a `role: admin` entry is replaced by a random 32-character
 * key, kept in `<dataDir>/admin.key` (mode 0600) so it survives restarts, and never printed:
 * the operator reads it from the file. A key file found readable by others is made 0600.
 * Portico differs from APISIX here, which rewrites config.yaml: the operator's file is never
 * modified.
 */
export function resolveAdminKeys(config: PorticoConfig, dataDir: string): ResolvedAdminKeys {
  const entries = config.deployment.admin.admin_key ?? [];
  const needsKey = entries.some((e) => e.role === 'admin' && !e.key);
  let fileKey: string | undefined;
  let generated = false;
  let keyFile: string | undefined;
  if (needsKey) {
    keyFile = join(dataDir, KEY_FILE);
    fileKey = readKeyFile(keyFile);
    if (fileKey) {
      restrictMode(keyFile);
    } else {
      fileKey = randomKey();
      generated = true;
      mkdirSync(dataDir, { recursive: true });
      writeKeyFile(keyFile, fileKey);
    }
  }
  const keys = entries
    .map((e) => ({ name: e.name, role: e.role, key: e.key || (e.role === 'admin' ? fileKey ?? '' : '') }))
    .filter((e) => e.key !== '');
  return { keys, generated, keyFile };
}

/**
 * Writes the key into a file that is 0600 before the key is in it: `mode` only applies when
 * open creates the file, so an existing (empty) one is narrowed through its descriptor first.
 */
function writeKeyFile(path: string, key: string): void {
  const fd = openSync(path, 'w', 0o600);
  try {
    fchmodSync(fd, 0o600);
    writeSync(fd, `${key}\n`);
  } finally {
    closeSync(fd);
  }
}

/** A key file others can read or write is narrowed to 0600; one that cannot be is a start-up error. */
function restrictMode(path: string): void {
  if ((statSync(path).mode & 0o077) === 0) return;
  try {
    chmodSync(path, 0o600);
  } catch (err) {
    throw new ConfigError(`the admin key file ${path} is readable by others and its mode cannot be set to 0600: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
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
