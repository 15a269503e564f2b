import { LruMap, SecretNotFoundError, SecretResolver, type SecretProvider } from '@portico/secrets';
import { captureLogger, ManualClock, waitFor } from './helpers';

/** A resolver over a private environment object (no AWS involved). */
function envResolver(env: NodeJS.ProcessEnv, opts: { maxEntries?: number } = {}) {
  const clock = new ManualClock();
  const log = captureLogger();
  const resolver = new SecretResolver({
    ttlSeconds: 10, negTtlSeconds: 5, maxEntries: opts.maxEntries ?? 100, now: clock.now, logger: log.logger, env,
    random: () => 0.5,
  });
  const changes: string[] = [];
  resolver.onChange((ref) => changes.push(ref));
  return { resolver, clock, log, changes };
}

describe('SecretResolver cache behaviour ($env:// references)', () => {
  it('resolves $env:// references through the same TTL cache', async () => {
    const env: NodeJS.ProcessEnv = { JACK_KEY: 'env-v1', KEYS: '{"jack":"json-field"}' };
    const { resolver, clock, changes } = envResolver(env);
    expect(await resolver.resolve('$env://JACK_KEY')).toBe('env-v1');
    expect(await resolver.resolve('$env://KEYS/jack')).toBe('json-field');

    env.JACK_KEY = 'env-v2';
    clock.advance(9);
    expect(await resolver.resolve('$env://JACK_KEY')).toBe('env-v1');
    clock.advance(2);
    expect(await resolver.resolve('$env://JACK_KEY')).toBe('env-v1'); // stale-while-revalidate
    await resolver.whenSettled('$env://JACK_KEY');
    expect(await resolver.resolve('$env://JACK_KEY')).toBe('env-v2');
    expect(changes).toEqual(['$env://JACK_KEY', '$env://KEYS/jack', '$env://JACK_KEY']);
    expect(resolver.stats()).toEqual({ env: { hits: 2, misses: 2, fetches: 3, errors: 0, staleServes: 1 } });
  });

  it('treats an unset variable as absent and a later value as a change', async () => {
    const env: NodeJS.ProcessEnv = {};
    const { resolver, clock, log, changes } = envResolver(env);
    expect(await resolver.resolve('$env://LATER')).toBeUndefined();
    expect(resolver.peek('$env://LATER')).toEqual({ state: 'failed' });
    expect(log.text()).toContain('environment variable LATER is not set');
    env.LATER = 'arrived';
    clock.advance(6);
    expect(await resolver.resolve('$env://LATER')).toBe('arrived');
    expect(changes).toEqual(['$env://LATER']);
  });

  it('bounds the cache by maxEntries, evicting the least recently used', async () => {
    const { resolver } = envResolver({ A: 'a', B: 'b', C: 'c' }, { maxEntries: 2 });
    await resolver.resolve('$env://A');
    await resolver.resolve('$env://B');
    resolver.peek('$env://A'); // A is now more recently used than B
    await resolver.resolve('$env://C');
    expect(resolver.peek('$env://A').state).toBe('fresh');
    expect(resolver.peek('$env://B').state).toBe('missing');
    expect(resolver.peek('$env://C').state).toBe('fresh');
  });

  it('answers malformed references with undefined and warns once', async () => {
    const { resolver, log } = envResolver({});
    expect(await resolver.resolve('$secret://aws/only-two')).toBeUndefined();
    expect(await resolver.resolve('$secret://aws/only-two')).toBeUndefined();
    expect(resolver.peek('$secret://aws/only-two')).toEqual({ state: 'failed' });
    expect(log.lines.filter((l) => l.includes('malformed secret reference'))).toHaveLength(1);
    expect(resolver.stats()).toEqual({});
  });

  it('treats an unsupported manager as unresolvable, logging it when configured', async () => {
    const { resolver, log } = envResolver({});
    resolver.setProvider('azure', '1', { client_secret: 'azure-client-secret-value' });
    expect(log.text()).toContain('secret manager \\"azure\\" is not supported');
    expect(await resolver.resolve('$secret://azure/1/kv/jack')).toBeUndefined();
    expect(log.text()).not.toContain('azure-client-secret-value');
    expect(resolver.stats().azure).toMatchObject({ fetches: 1, errors: 1 });
  });

  it('treats a supported manager with an unusable conf as unresolvable, naming the key, not the value', async () => {
    const { resolver, log } = envResolver({});
    resolver.setProvider('gcp', '1', { auth_config: { private_key: 'gcp-private-key-value' } });
    expect(log.text()).toContain('secret manager gcp/1 has an unusable configuration: gcp secret manager: auth_config needs a non-empty string client_email');
    expect(await resolver.resolve('$secret://gcp/1/kv/jack')).toBeUndefined();
    expect(log.text()).not.toContain('gcp-private-key-value');
    expect(resolver.stats().gcp).toMatchObject({ fetches: 1, errors: 1 });
  });

  it('keeps calling other listeners when one throws, and unsubscribes', async () => {
    const { resolver, log } = envResolver({ A: 'a', B: 'b' });
    const seen: string[] = [];
    resolver.onChange(() => {
      throw new Error('listener bug');
    });
    const off = resolver.onChange((ref) => seen.push(ref));
    await resolver.resolve('$env://A');
    off();
    await resolver.resolve('$env://B');
    expect(seen).toEqual(['$env://A']);
    expect(log.text()).toContain('secret change listener failed');
  });
});

describe('SecretResolver with a hand-driven provider', () => {
  /** A provider whose answers the test releases one by one. */
  function gatedProvider() {
    const pending: Array<{ path: string; resolve: (v: string) => void; reject: (e: Error) => void }> = [];
    const provider: SecretProvider = {
      get: (path) => new Promise((resolve, reject) => pending.push({ path, resolve, reject })),
    };
    return { provider, pending };
  }

  it('does not let a slow fetch under an old conf overwrite the new conf answer', async () => {
    const gates = [gatedProvider(), gatedProvider()];
    let built = 0;
    const resolver = new SecretResolver({
      ttlSeconds: 10, negTtlSeconds: 5, maxEntries: 10, logger: captureLogger().logger,
      providers: { fake: () => gates[built++].provider },
    });
    const ref = '$secret://fake/1/key';
    resolver.setProvider('fake', '1', { v: 1 });
    const first = resolver.resolve(ref);
    expect(gates[0].pending).toHaveLength(1);
    resolver.setProvider('fake', '1', { v: 2 });
    gates[0].pending[0].resolve('old-conf-value');
    // The first caller is re-asked through the new provider.
    await waitFor(() => gates[1].pending.length === 1, { what: 're-ask through the new provider' });
    gates[1].pending[0].resolve('new-conf-value');
    expect(await first).toBe('new-conf-value');
    expect(resolver.peek(ref)).toMatchObject({ state: 'fresh', value: 'new-conf-value' });
  });

  it('drops a value on SecretNotFoundError but keeps it through other errors', async () => {
    const clock = new ManualClock();
    const gate = gatedProvider();
    const resolver = new SecretResolver({
      ttlSeconds: 10, negTtlSeconds: 5, maxEntries: 10, now: clock.now, logger: captureLogger().logger,
      providers: { fake: () => gate.provider },
    });
    const ref = '$secret://fake/1/key';
    resolver.setProvider('fake', '1', {});
    /** Answers the next provider call, then returns what the cache now serves. */
    const settle = async (answer: string | Error) => {
      const first = resolver.resolve(ref);
      const call = gate.pending.shift()!;
      if (typeof answer === 'string') call.resolve(answer);
      else call.reject(answer);
      await first;
      await resolver.whenSettled(ref);
      return resolver.resolve(ref);
    };
    expect(await settle('v1')).toBe('v1');
    clock.advance(11);
    expect(await settle(new Error('network down'))).toBe('v1');
    clock.advance(6);
    expect(await settle(new SecretNotFoundError('gone'))).toBeUndefined();
    expect(resolver.peek(ref)).toEqual({ state: 'failed' });
  });
});

describe('LruMap', () => {
  it('evicts the least recently used entry and reports it', () => {
    const m = new LruMap<string, number>(2);
    m.set('a', 1);
    m.set('b', 2);
    expect(m.get('a')).toBe(1);
    expect(m.set('c', 3)).toEqual(['b', 2]);
    expect(m.peek('b')).toBeUndefined();
    expect(m.size).toBe(2);
    expect(() => new LruMap(0)).toThrow(RangeError);
  });
});
