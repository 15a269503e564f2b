import './helpers/quiet-logs';
import { chmodSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ConfigError } from '@portico/core';
import { AddressSet, checkAdminListenSafety, isLoopback, resolveAdminKeys } from '../src';
import { testConfig } from './helpers/admin-harness';

const adminCfg = (admin: Record<string, unknown>) => testConfig({ deployment: { admin } });

describe('resolveAdminKeys', () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'portico-keys-'));
  });
  afterEach(() => {
    rmSync(dir, { recursive: true, force: true });
  });

  it('generates a 32-character key for an empty admin entry, stores it 0600, and reuses it later', () => {
    const cfg = adminCfg({ admin_key: [{ name: 'admin', key: '', role: 'admin' }, { name: 'v', key: 'view', role: 'viewer' }] });
    const dataDir = join(dir, 'data'); // does not exist yet
    const first = resolveAdminKeys(cfg, dataDir);
    const key = first.keys[0].key;
    expect(first.generated).toBe(true);
    expect(key).toMatch(/^[A-Za-z0-9]{32}$/);
    expect(first.keyFile).toBe(join(dataDir, 'admin.key'));
    expect(first.keys).toEqual([{ name: 'admin', key, role: 'admin' }, { name: 'v', key: 'view', role: 'viewer' }]);
    expect(readFileSync(first.keyFile!, 'utf8').trim()).toBe(key);
    expect(statSync(first.keyFile!).mode & 0o777).toBe(0o600);

    // Next start: same key, not announced again.
    const second = resolveAdminKeys(cfg, dataDir);
    expect(second.generated).toBe(false);
    expect(second.keys[0].key).toBe(key);
  });

  it('leaves configured keys alone and never writes a file for them', () => {
    const r = resolveAdminKeys(adminCfg({ admin_key: [{ name: 'a', key: 'k', role: 'admin' }] }), dir);
    expect(r).toEqual({ keys: [{ name: 'a', key: 'k', role: 'admin' }], generated: false, keyFile: undefined });
  });

  it('drops empty viewer keys (an empty key must never match) and null keys', () => {
    const r = resolveAdminKeys(adminCfg({ admin_key: [{ name: 'v', key: '', role: 'viewer' }, { name: 'a', key: 'k', role: 'admin' }, { name: 'n', key: null, role: 'viewer' }] }), dir);
    expect(r.keys).toEqual([{ name: 'a', key: 'k', role: 'admin' }]);
  });

  it('regenerates when the key file is empty', () => {
    writeFileSync(join(dir, 'admin.key'), '\n');
    const r = resolveAdminKeys(adminCfg({}), dir);
    expect(r.generated).toBe(true);
    expect(r.keys[0].key).toMatch(/^[A-Za-z0-9]{32}$/);
    expect(statSync(join(dir, 'admin.key')).mode & 0o777).toBe(0o600);
  });

  it('narrows an existing key file others can read to 0600, keeping its key', () => {
    const file = join(dir, 'admin.key');
    writeFileSync(file, 'an-existing-admin-key\n', { mode: 0o644 });
    chmodSync(file, 0o644);
    const r = resolveAdminKeys(adminCfg({}), dir);
    expect([r.generated, r.keys[0]?.key]).toEqual([false, 'an-existing-admin-key']);
    expect(statSync(file).mode & 0o777).toBe(0o600);
  });

  it('writes a generated key into an existing, looser empty file only once the file is 0600', () => {
    const file = join(dir, 'admin.key');
    writeFileSync(file, '', { mode: 0o666 });
    chmodSync(file, 0o666);
    const r = resolveAdminKeys(adminCfg({}), dir);
    expect(r.generated).toBe(true);
    expect(statSync(file).mode & 0o777).toBe(0o600);
  });
});

describe('checkAdminListenSafety', () => {
  it.each<[string, Record<string, unknown>]>([
    ['keyless on 127.0.0.1', { admin_key_required: false, admin_key: [] }],
    ['keyless on ::1', { admin_key_required: false, admin_listen: { ip: '::1', port: 9180 } }],
    ['keyless on localhost', { admin_key_required: false, admin_listen: { ip: 'localhost', port: 9180 } }],
    ['keyless on an IPv4-mapped loopback', { admin_key_required: false, admin_listen: { ip: '::ffff:127.0.0.1', port: 9180 } }],
    ['required keys on 0.0.0.0 (an empty admin key is generated)', { admin_listen: { ip: '0.0.0.0', port: 9180 } }],
    ['keyless setting with a real key on 0.0.0.0', { admin_key_required: false, admin_listen: { ip: '0.0.0.0', port: 9180 }, admin_key: [{ name: 'a', key: 'k', role: 'admin' }] }],
  ])('accepts %s', (_name, admin) => {
    expect(() => checkAdminListenSafety(adminCfg(admin))).not.toThrow();
  });

  it.each<[string, Record<string, unknown>, string]>([
    ['keyless on 0.0.0.0', { admin_key_required: false, admin_listen: { ip: '0.0.0.0', port: 9180 } }, 'deployment.admin.admin_key_required'],
    ['keyless on ::', { admin_key_required: false, admin_listen: { ip: '::', port: 9180 } }, 'deployment.admin.admin_listen.ip'],
    ['keyless on a LAN address', { admin_key_required: false, admin_listen: { ip: '192.168.1.10', port: 9180 } }, '192.168.1.10 is not a loopback address'],
    ['no admin entry on 0.0.0.0', { admin_listen: { ip: '0.0.0.0', port: 9180 }, admin_key: [{ name: 'v', key: '', role: 'viewer' }] }, 'deployment.admin.admin_key'],
  ])('refuses %s', (_name, admin, text) => {
    const check = () => checkAdminListenSafety(adminCfg(admin));
    expect(check).toThrow(ConfigError);
    expect(check).toThrow(text);
  });
});

describe('AddressSet and isLoopback', () => {
  it.each<[string[], string, boolean]>([
    [['127.0.0.0/8'], '127.1.2.3', true],
    [['127.0.0.0/8'], '::ffff:127.0.0.1', true],
    [['127.0.0.0/8'], '128.0.0.1', false],
    [['10.0.0.0/8', '192.168.0.0/16'], '192.168.9.9', true],
    [['::1/128'], '::1', true],
    [['::1'], '::1', true],
    [['fd00::/8'], 'fd12::1', true],
    [['fd00::/8'], 'fe80::1', false],
    [['0.0.0.0/0'], '8.8.8.8', true],
    [['::/0'], '2001:db8::1', true],
    [['127.0.0.0/8'], 'not-an-ip', false],
    [['127.0.0.0/8'], '', false],
    [[], '127.0.0.1', false],
  ])('%j has %s → %s', (list, address, expected) => {
    expect(AddressSet.parse(list, 'x').has(address)).toBe(expected);
  });

  it.each(['127.0.0.1/33', '::1/129', 'localhost', '1.2.3', '10.0.0.0/', '10.0.0.0/a', '10.0.0.0/-1', ''])('rejects the entry %j', (entry) => {
    expect(() => AddressSet.parse([entry], 'deployment.admin.allow_admin')).toThrow(ConfigError);
  });

  it.each<[string, boolean]>([
    ['127.0.0.1', true], ['127.9.9.9', true], ['::1', true], ['[::1]', true], ['localhost', true], ['::ffff:127.0.0.1', true],
    ['0.0.0.0', false], ['::', false], ['10.0.0.1', false], ['example.com', false],
  ])('isLoopback(%s) → %s', (host, expected) => {
    expect(isLoopback(host)).toBe(expected);
  });
});
