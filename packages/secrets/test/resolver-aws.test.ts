import { startAwsSecretsEmulator, type AwsSecretsEmulator } from '../../testkit/src/aws-secrets-emulator';
import { awsConf, CREDS, harness, waitFor, type Harness } from './helpers';

const REF = '$secret://aws/john/apisix-secrets/jack';

describe('SecretResolver with the real AWS SDK against the emulator', () => {
  let h: Harness;
  beforeEach(async () => {
    h = await harness();
    h.emu.putSecret('apisix-secrets', { jack: 'jack-key-v1' });
    h.resolver.setProvider('aws', 'john', awsConf(h.emu));
  });
  afterEach(() => h.close());

  it('is lazy: configuring and peeking make no call, the first resolve makes one', async () => {
    expect(h.resolver.peek(REF)).toEqual({ state: 'missing' });
    expect(h.emu.calls.total).toBe(0);
    expect(await h.resolver.resolve(REF)).toBe('jack-key-v1');
    expect(h.emu.calls.byTarget).toEqual({ GetSecretValue: 1 });
    expect(h.resolver.peek(REF)).toEqual({ state: 'fresh', value: 'jack-key-v1' });
    expect(await h.resolver.resolve(REF)).toBe('jack-key-v1');
    expect(h.emu.calls.total).toBe(1);
    expect(h.resolver.stats()).toEqual({ aws: { hits: 1, misses: 1, fetches: 1, errors: 0, staleServes: 0 } });
  });

  it('shares one GetSecretValue among 500 concurrent resolves of a cold reference', async () => {
    h.emu.injectLatency(50); // keep the fetch in flight while all callers arrive
    const values = await Promise.all(Array.from({ length: 500 }, () => h.resolver.resolve(REF)));
    expect(new Set(values)).toEqual(new Set(['jack-key-v1']));
    expect(h.emu.calls.byTarget.GetSecretValue).toBe(1);
    expect(h.resolver.stats().aws).toMatchObject({ misses: 500, fetches: 1 });
  });

  it('refetches after the TTL and picks up a new version', async () => {
    expect(await h.resolver.resolve(REF)).toBe('jack-key-v1');
    h.emu.putSecret('apisix-secrets', { jack: 'jack-key-v2' });
    h.clock.advance(299);
    expect(await h.resolver.resolve(REF)).toBe('jack-key-v1');
    expect(h.emu.calls.total).toBe(1);
    h.clock.advance(2);
    expect(h.resolver.peek(REF)).toEqual({ state: 'stale', value: 'jack-key-v1' });
    // stale-while-revalidate: the expired value answers at once, one refresh runs behind it
    expect(await h.resolver.resolve(REF)).toBe('jack-key-v1');
    await h.resolver.whenSettled(REF);
    expect(await h.resolver.resolve(REF)).toBe('jack-key-v2');
    expect(h.emu.calls.total).toBe(2);
    expect(h.changes).toEqual([REF, REF]); // first value, then the rotated one
  });

  it('refreshIfStale refreshes in the background, once, and only when expired', async () => {
    await h.resolver.resolve(REF);
    h.resolver.refreshIfStale(REF);
    expect(h.emu.calls.total).toBe(1); // fresh: nothing to do

    h.emu.putSecret('apisix-secrets', { jack: 'jack-key-v2' });
    h.emu.injectLatency(50);
    h.clock.advance(301);
    for (let i = 0; i < 20; i++) h.resolver.refreshIfStale(REF);
    // Returned at once: the old value is still what peek serves while the refresh runs.
    expect(h.resolver.peek(REF)).toEqual({ state: 'stale', value: 'jack-key-v1' });
    await waitFor(() => h.resolver.peek(REF).state === 'fresh', { what: 'background refresh' });
    expect(h.resolver.peek(REF).value).toBe('jack-key-v2');
    expect(h.emu.calls.total).toBe(2);
  });

  it('remembers a failure for neg_ttl, then asks again', async () => {
    const missing = '$secret://aws/john/not-yet';
    expect(await h.resolver.resolve(missing)).toBeUndefined();
    expect(h.emu.callsFor('not-yet')).toBe(1);
    expect(h.resolver.peek(missing)).toEqual({ state: 'failed' });

    h.emu.putSecret('not-yet', 'now-here');
    h.clock.advance(59);
    expect(await h.resolver.resolve(missing)).toBeUndefined();
    h.resolver.refreshIfStale(missing);
    expect(h.emu.callsFor('not-yet')).toBe(1);

    h.clock.advance(2);
    expect(h.resolver.peek(missing)).toEqual({ state: 'missing' });
    expect(await h.resolver.resolve(missing)).toBe('now-here');
    expect(h.emu.callsFor('not-yet')).toBe(2);
    expect(h.resolver.stats().aws).toMatchObject({ errors: 1, fetches: 2 });
  });

  it.each(['500', 'throttle', 'outage'] as const)('keeps serving the last value when a refresh fails (%s)', async (kind) => {
    expect(await h.resolver.resolve(REF)).toBe('jack-key-v1');
    h.emu.putSecret('apisix-secrets', { jack: 'jack-key-v2' });
    h.emu.injectError(kind);
    h.clock.advance(301);

    expect(await h.resolver.resolve(REF)).toBe('jack-key-v1');
    await h.resolver.whenSettled(REF);
    expect(h.resolver.peek(REF)).toEqual({ state: 'stale', value: 'jack-key-v1' });
    expect(await h.resolver.resolve(REF)).toBe('jack-key-v1'); // within neg_ttl: no new call
    expect(h.emu.calls.total).toBe(2);
    expect(h.resolver.stats().aws).toMatchObject({ errors: 1, staleServes: 2 });
    expect(h.changes).toEqual([REF]); // an outage is not a change

    const warn = h.log.lines.map((l) => JSON.parse(l)).find((l) => l.level === 40);
    expect(warn).toMatchObject({ ref: REF, manager: 'aws', servingStale: true });
    expect(warn.reason).toMatch(/apisix-secrets/);

    h.emu.injectError(null);
    h.clock.advance(61);
    expect(await h.resolver.resolve(REF)).toBe('jack-key-v1');
    await h.resolver.whenSettled(REF);
    expect(await h.resolver.resolve(REF)).toBe('jack-key-v2');
    expect(h.resolver.peek(REF).state).toBe('fresh');
  });

  it('stops serving a value whose secret was deleted, and tells listeners', async () => {
    expect(await h.resolver.resolve(REF)).toBe('jack-key-v1');
    h.emu.deleteSecret('apisix-secrets');
    h.clock.advance(301);
    expect(await h.resolver.resolve(REF)).toBe('jack-key-v1'); // not known to be gone yet
    await h.resolver.whenSettled(REF);
    expect(await h.resolver.resolve(REF)).toBeUndefined();
    expect(h.resolver.peek(REF)).toEqual({ state: 'failed' });
    expect(h.changes).toEqual([REF, REF]);
  });

  it('reports wrong credentials as unresolvable without a value in the log', async () => {
    h.resolver.setProvider('aws', 'john', awsConf(h.emu, { secret_access_key: 'wrong-secret-key' }));
    expect(await h.resolver.resolve(REF)).toBeUndefined();
    expect(h.log.text()).toMatch(/InvalidSignatureException/);
    expect(h.log.text()).not.toContain('wrong-secret-key');
  });

  describe('name and field', () => {
    it('reads a field of a JSON secret with one call, numbers as strings', async () => {
      h.emu.putSecret('numbers', { pin: 1234 });
      expect(await h.resolver.resolve('$secret://aws/john/numbers/pin')).toBe('1234');
      expect(h.emu.calls.total).toBe(1);
    });

    it('falls back to a secret whose name contains the slash, and remembers that reading', async () => {
      const ref = '$secret://aws/john/team/jack-key';
      h.emu.putSecret('team/jack-key', 'whole-value-1');
      expect(await h.resolver.resolve(ref)).toBe('whole-value-1');
      expect(h.emu.callsFor('team')).toBe(1); // tried as secret "team" field "jack-key" first
      expect(h.emu.callsFor('team/jack-key')).toBe(1);

      h.emu.putSecret('team/jack-key', 'whole-value-2');
      h.emu.resetCalls();
      h.clock.advance(301);
      h.resolver.refreshIfStale(ref);
      await h.resolver.whenSettled(ref);
      expect(await h.resolver.resolve(ref)).toBe('whole-value-2');
      expect(h.emu.calls.total).toBe(1); // the remembered reading: one call
      expect(h.emu.callsFor('team/jack-key')).toBe(1);
    });

    it('prefers the field reading when both exist', async () => {
      h.emu.putSecret('both', { x: 'from-field' });
      h.emu.putSecret('both/x', 'from-whole');
      expect(await h.resolver.resolve('$secret://aws/john/both/x')).toBe('from-field');
    });

    it('re-learns the reading when the secret layout changes', async () => {
      const ref = '$secret://aws/john/layout/key';
      h.emu.putSecret('layout', { key: 'field-value' });
      expect(await h.resolver.resolve(ref)).toBe('field-value');
      h.emu.deleteSecret('layout');
      h.emu.putSecret('layout/key', 'whole-value');
      h.clock.advance(301);
      h.resolver.refreshIfStale(ref);
      await h.resolver.whenSettled(ref);
      expect(await h.resolver.resolve(ref)).toBe('whole-value');
    });

    it('fails when neither reading exists, or the field is not a string or number', async () => {
      h.emu.putSecret('obj', { nested: { a: 1 }, flag: true });
      expect(await h.resolver.resolve('$secret://aws/john/obj/nested')).toBeUndefined();
      expect(await h.resolver.resolve('$secret://aws/john/obj/flag')).toBeUndefined();
      expect(await h.resolver.resolve('$secret://aws/john/obj/absent')).toBeUndefined();
      const reasons = h.log.lines.map((l) => JSON.parse(l).reason as string);
      expect(reasons).toEqual([
        'field "nested" of AWS secret "obj" is not a string or number; AWS secret "obj/nested" does not exist (ResourceNotFoundException)',
        'field "flag" of AWS secret "obj" is not a string or number; AWS secret "obj/flag" does not exist (ResourceNotFoundException)',
        'AWS secret "obj" has no field "absent"; AWS secret "obj/absent" does not exist (ResourceNotFoundException)',
      ]);
    });

    it('never puts a value in the log, even when a non-JSON secret is read with a field', async () => {
      // JSON.parse on Node 20 quotes its input in its error message; that must not leak.
      h.emu.putSecret('plain', 'hunter2-plain-secret');
      h.emu.putSecret('good', { jack: 'good-secret-value' });
      expect(await h.resolver.resolve('$secret://aws/john/plain/field')).toBeUndefined();
      expect(await h.resolver.resolve('$secret://aws/john/good/jack')).toBe('good-secret-value');
      h.emu.injectError('500');
      h.clock.advance(301);
      expect(await h.resolver.resolve('$secret://aws/john/good/jack')).toBe('good-secret-value'); // stale
      await h.resolver.whenSettled('$secret://aws/john/good/jack');
      const text = h.log.text();
      expect(h.log.lines.length).toBeGreaterThanOrEqual(2);
      expect(text).toContain('$secret://aws/john/plain/field');
      expect(text).not.toContain('hunter2');
      expect(text).not.toContain('good-secret-value');
    });
  });

  describe('setProvider', () => {
    let other: AwsSecretsEmulator;
    beforeEach(async () => {
      other = await startAwsSecretsEmulator({ credentials: [CREDS] });
      other.putSecret('apisix-secrets', { jack: 'from-other-emulator' });
    });
    afterEach(() => other.close());

    it('drops the cached values of that provider only', async () => {
      const mary = '$secret://aws/mary/apisix-secrets/jack';
      h.resolver.setProvider('aws', 'mary', awsConf(h.emu));
      await h.resolver.resolve(REF);
      await h.resolver.resolve(mary);
      h.changes.length = 0;
      h.emu.resetCalls();

      h.resolver.setProvider('aws', 'john', awsConf(other));
      expect(h.changes).toEqual([REF]);
      expect(h.resolver.peek(REF)).toEqual({ state: 'missing' });
      expect(h.resolver.peek(mary)).toEqual({ state: 'fresh', value: 'jack-key-v1' });
      expect(await h.resolver.resolve(REF)).toBe('from-other-emulator');
      expect(await h.resolver.resolve(mary)).toBe('jack-key-v1');
      expect(h.emu.calls.total).toBe(0);
      expect(other.calls.total).toBe(1);
    });

    it('ignores an identical conf delivered again', async () => {
      await h.resolver.resolve(REF);
      h.resolver.setProvider('aws', 'john', awsConf(h.emu));
      expect(h.resolver.peek(REF).state).toBe('fresh');
      expect(h.changes).toEqual([REF]);
    });

    it('makes references unresolvable when the provider is removed', async () => {
      await h.resolver.resolve(REF);
      h.resolver.setProvider('aws', 'john', undefined);
      expect(h.resolver.peek(REF)).toEqual({ state: 'missing' });
      expect(await h.resolver.resolve(REF)).toBeUndefined();
      expect(h.log.text()).toContain('secret manager aws/john is not configured');
    });

    it('does not cache an answer fetched under the old conf', async () => {
      h.emu.injectLatency(200);
      const pending = h.resolver.resolve(REF);
      await waitFor(() => h.emu.calls.total === 1, { what: 'fetch in flight' });
      h.resolver.setProvider('aws', 'john', awsConf(other));
      // The caller gets the answer of the new conf, and that is what is cached.
      expect(await pending).toBe('from-other-emulator');
      expect(h.resolver.peek(REF)).toEqual({ state: 'fresh', value: 'from-other-emulator' });
      expect(other.calls.total).toBe(1);
    });

    it('does not repopulate a removed provider from an in-flight fetch', async () => {
      h.emu.injectLatency(200);
      const pending = h.resolver.resolve(REF);
      await waitFor(() => h.emu.calls.total === 1, { what: 'fetch in flight' });
      h.resolver.setProvider('aws', 'john', undefined);
      expect(await pending).toBeUndefined();
      expect(h.resolver.peek(REF).value).toBeUndefined();
    });

    it('resolves $env:// strings in the conf when the provider is built', async () => {
      h.resolver.close();
      const { SecretResolver } = await import('@portico/secrets');
      const env = { PORTICO_TEST_AWS_SECRET: CREDS.secretAccessKey };
      const r = new SecretResolver({ ttlSeconds: 300, negTtlSeconds: 60, maxEntries: 10, env, logger: h.log.logger });
      try {
        r.setProvider('aws', 'john', awsConf(h.emu, { secret_access_key: '$env://PORTICO_TEST_AWS_SECRET' }));
        expect(await r.resolve(REF)).toBe('jack-key-v1');
        r.setProvider('aws', 'mary', awsConf(h.emu, { secret_access_key: '$env://PORTICO_TEST_UNSET' }));
        expect(await r.resolve('$secret://aws/mary/apisix-secrets/jack')).toBeUndefined();
        expect(h.log.text()).toContain('secret_access_key refers to $env://PORTICO_TEST_UNSET');
      } finally {
        r.close();
      }
    });
  });
});
