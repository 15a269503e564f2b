import { startVaultEmulator, type VaultEmulator } from '../../testkit/src/vault-emulator';
import { harness, type Harness } from './helpers';

const TOKEN = 'hvs.portico-vault-test-token';

describe('Vault provider (KV v1 and v2) against the Vault emulator', () => {
  let vault: VaultEmulator;
  let h: Harness;
  beforeEach(async () => {
    vault = await startVaultEmulator({ tokens: [TOKEN], mounts: { kv: 1, secret: 2 } });
    vault.put('kv', 'apisix/jack', { 'auth-key': 'vault-v1-jack-key' });
    vault.put('secret', 'apisix/jill', { 'auth-key': 'vault-v2-jill-key', pin: 42 });
    h = await harness({ env: { VAULT_TOKEN: TOKEN } });
  });
  afterEach(async () => {
    await h.close();
    await vault.close();
  });

  it('reads KV v1 at <prefix>/<path> and returns the field', async () => {
    h.resolver.setProvider('vault', 'v1', { uri: vault.endpoint, prefix: 'kv/apisix', token: TOKEN });
    expect(await h.resolver.resolve('$secret://vault/v1/jack/auth-key')).toBe('vault-v1-jack-key');
    expect(vault.calls.byPath).toEqual({ '/v1/kv/apisix/jack': 1 });
  });

  it('reads KV v2 at <mount>/data/<rest>, the latest version, with the token from $env://', async () => {
    h.resolver.setProvider('vault', 'v2', { uri: vault.endpoint, prefix: 'secret/apisix', token: '$env://VAULT_TOKEN', kv_version: 2 });
    expect(await h.resolver.resolve('$secret://vault/v2/jill/auth-key')).toBe('vault-v2-jill-key');
    expect(await h.resolver.resolve('$secret://vault/v2/jill/pin')).toBe('42');
    expect(vault.calls.byPath).toEqual({ '/v1/secret/data/apisix/jill': 2 });
    vault.put('secret', 'apisix/jill', { 'auth-key': 'vault-v2-jill-key-2' });
    h.clock.advance(301);
    h.resolver.refreshIfStale('$secret://vault/v2/jill/auth-key');
    await h.resolver.whenSettled('$secret://vault/v2/jill/auth-key');
    expect(h.resolver.peek('$secret://vault/v2/jill/auth-key').value).toBe('vault-v2-jill-key-2');
  });

  it('sends the namespace, and is refused without the right one', async () => {
    const ns = await startVaultEmulator({ tokens: [TOKEN], mounts: { kv: 1 }, namespace: 'team-a' });
    try {
      ns.put('kv', 'apisix/jack', { 'auth-key': 'ns-key-value' });
      h.resolver.setProvider('vault', 'ns', { uri: ns.endpoint, prefix: 'kv/apisix', token: TOKEN, namespace: 'team-a' });
      h.resolver.setProvider('vault', 'nons', { uri: ns.endpoint, prefix: 'kv/apisix', token: TOKEN });
      expect(await h.resolver.resolve('$secret://vault/ns/jack/auth-key')).toBe('ns-key-value');
      expect(await h.resolver.resolve('$secret://vault/nons/jack/auth-key')).toBeUndefined();
      expect(h.log.text()).toContain('HTTP 403');
    } finally {
      await ns.close();
    }
  });

  it('a wrong token, a missing secret or field fail closed; no token or value is logged', async () => {
    h.resolver.setProvider('vault', 'bad', { uri: vault.endpoint, prefix: 'kv/apisix', token: 'wrong-vault-token' });
    h.resolver.setProvider('vault', 'v1', { uri: vault.endpoint, prefix: 'kv/apisix', token: TOKEN });
    expect(await h.resolver.resolve('$secret://vault/bad/jack/auth-key')).toBeUndefined();
    expect(await h.resolver.resolve('$secret://vault/v1/nobody/auth-key')).toBeUndefined();
    expect(await h.resolver.resolve('$secret://vault/v1/jack/other-field')).toBeUndefined();
    const text = h.log.text();
    expect(text).toContain('$secret://vault/v1/nobody/auth-key');
    for (const v of [TOKEN, 'wrong-vault-token', 'vault-v1-jack-key']) expect(text).not.toContain(v);
  });

  it('keeps serving the cached value while Vault is sealed or down, and recovers', async () => {
    const ref = '$secret://vault/v1/jack/auth-key';
    h.resolver.setProvider('vault', 'v1', { uri: vault.endpoint, prefix: 'kv/apisix', token: TOKEN, retries: 0, request_timeout: 1 });
    expect(await h.resolver.resolve(ref)).toBe('vault-v1-jack-key');
    for (const kind of ['sealed', 'outage'] as const) {
      vault.injectError(kind);
      h.clock.advance(400);
      expect(await h.resolver.resolve(ref)).toBe('vault-v1-jack-key');
      await h.resolver.whenSettled(ref);
      expect(h.resolver.peek(ref)).toMatchObject({ state: 'stale', value: 'vault-v1-jack-key' });
    }
    expect(h.resolver.stats().vault.errors).toBe(2);
    vault.injectError(null);
    vault.put('kv', 'apisix/jack', { 'auth-key': 'vault-v1-jack-key-2' });
    h.clock.advance(61);
    h.resolver.refreshIfStale(ref);
    await h.resolver.whenSettled(ref);
    expect(h.resolver.peek(ref)).toMatchObject({ state: 'fresh', value: 'vault-v1-jack-key-2' });
  });
});
