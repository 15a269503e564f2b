import { SecretNotFoundError, SecretResolver, type SecretProvider } from '@portico/secrets';
import { awsConf, captureLogger, harness, ManualClock, type Harness } from './helpers';

/**
 * A provider the test drives: `answer` decides each call's outcome; `gate` (when set) holds
 * every call until released, so concurrency is observable.
 */
function drivenProvider() {
  const state = {
    calls: 0,
    answer: (path: string): string | Error => `${path}-v1`,
    gate: undefined as Promise<void> | undefined,
    open: () => {},
    hold() {
      state.gate = new Promise<void>((r) => (state.open = r));
    },
    release() {
      state.open();
      state.gate = undefined;
    },
  };
  const provider: SecretProvider = {
    async get(path) {
      state.calls++;
      if (state.gate) await state.gate;
      const a = state.answer(path);
      if (a instanceof Error) throw a;
      return a;
    },
  };
  return { state, provider };
}

function setup(opts: { ttl?: number; neg?: number; resurrect?: number; random?: () => number; max?: number; conf?: object } = {}) {
  const clock = new ManualClock();
  const log = captureLogger();
  const { state, provider } = drivenProvider();
  const resolver = new SecretResolver({
    ttlSeconds: opts.ttl ?? 10,
    negTtlSeconds: opts.neg ?? 5,
    resurrectTtlSeconds: opts.resurrect,
    maxEntries: opts.max ?? 1000,
    now: clock.now,
    random: opts.random ?? (() => 0.5),
    logger: log.logger,
    providers: { fake: () => provider },
  });
  resolver.setProvider('fake', 'p', opts.conf ?? {});
  const changes: string[] = [];
  resolver.onChange((r) => changes.push(r));
  return { clock, log, state, resolver, changes };
}

const REF = '$secret://fake/p/key';

describe('cache semantics', () => {
  it('spreads TTLs by ±10 % (jitter), so nodes and references do not refresh in lockstep', async () => {
    // random() = 0 → 0.9 × ttl; random() → 1 → 1.1 × ttl
    for (const [r, freshFor] of [[0, 9], [0.999999, 10.99]] as const) {
      const { resolver, clock } = setup({ ttl: 10, random: () => r });
      await resolver.resolve(REF);
      clock.advance(freshFor - 0.01);
      expect(resolver.peek(REF).state).toBe('fresh');
      clock.advance(0.02);
      expect(resolver.peek(REF).state).toBe('stale');
    }
    // With the real random source, 200 references expire spread over [9 s, 11 s).
    const { resolver, clock } = setup({ ttl: 10, random: Math.random });
    const refs = Array.from({ length: 200 }, (_, i) => `$secret://fake/p/k${i}`);
    await Promise.all(refs.map((r) => resolver.resolve(r)));
    clock.advance(8.99);
    expect(refs.every((r) => resolver.peek(r).state === 'fresh')).toBe(true);
    clock.advance(1.01); // t = 10 s: roughly half expired
    const stale = refs.filter((r) => resolver.peek(r).state === 'stale').length;
    expect(stale).toBeGreaterThan(40);
    expect(stale).toBeLessThan(160);
    clock.advance(1.01);
    expect(refs.every((r) => resolver.peek(r).state === 'stale')).toBe(true);
  });

  it('stale-while-revalidate: an expired value answers at once while exactly one refresh runs', async () => {
    const { resolver, clock, state, changes } = setup();
    expect(await resolver.resolve(REF)).toBe('key-v1');
    state.answer = () => 'key-v2';
    state.hold();
    clock.advance(11);
    const answers = await Promise.all(Array.from({ length: 100 }, () => resolver.resolve(REF)));
    expect(new Set(answers)).toEqual(new Set(['key-v1']));
    for (let i = 0; i < 50; i++) resolver.refreshIfStale(REF);
    expect(state.calls).toBe(2);
    state.release();
    await resolver.whenSettled(REF);
    expect(resolver.peek(REF)).toEqual({ state: 'fresh', value: 'key-v2' });
    expect(state.calls).toBe(2);
    expect(changes).toEqual([REF, REF]);
    expect(resolver.stats().fake).toMatchObject({ fetches: 2, staleServes: 100 });
  });

  it('stale-if-error serves the last value up to resurrect_ttl past expiry, then fails closed', async () => {
    const { resolver, clock, state, changes, log } = setup({ ttl: 10, neg: 5, resurrect: 30 });
    expect(await resolver.resolve(REF)).toBe('key-v1');
    state.answer = () => new Error('provider down');
    // expired at t=10; served stale (with a failed refresh every neg_ttl) until t = 10 + 30
    for (let t = 11; t < 40; t += 6) {
      clock.t = 1_700_000_000_000 + t * 1000;
      expect(await resolver.resolve(REF)).toBe('key-v1');
      await resolver.whenSettled(REF);
    }
    const callsBefore = state.calls;
    expect(callsBefore).toBeGreaterThanOrEqual(5);
    clock.t = 1_700_000_000_000 + 40_001;
    expect(resolver.peek(REF).value).toBeUndefined();
    expect(changes).toEqual([REF, REF]); // resolved, then dropped
    expect(log.text()).toContain('expired past resurrect_ttl');
    // a cold reference again: the next resolve asks (and fails closed)
    expect(await resolver.resolve(REF)).toBeUndefined();
    expect(state.calls).toBe(callsBefore + 1);
    // recovery: after neg_ttl the next ask succeeds
    state.answer = () => 'key-v3';
    clock.advance(6);
    expect(await resolver.resolve(REF)).toBe('key-v3');
  });

  it('a provider conf may set its own resurrect_ttl', async () => {
    const { resolver, clock, state } = setup({ ttl: 10, resurrect: 3600, conf: { resurrect_ttl: 0 } });
    await resolver.resolve(REF);
    state.answer = () => new Error('down');
    clock.advance(10.5);
    expect(resolver.peek(REF).value).toBeUndefined(); // no stale serving at all
  });

  it('remembers failures for neg_ttl: a failing cold reference is asked once per neg_ttl', async () => {
    const { resolver, clock, state } = setup({ neg: 5 });
    state.answer = () => new SecretNotFoundError('no such secret');
    for (let i = 0; i < 100; i++) expect(await resolver.resolve(REF)).toBeUndefined();
    expect(state.calls).toBe(1);
    clock.advance(4.9);
    expect(await resolver.resolve(REF)).toBeUndefined();
    expect(state.calls).toBe(1);
    clock.advance(0.2);
    await resolver.resolve(REF);
    expect(state.calls).toBe(2);
  });

  it('single-flight per reference: concurrent cold resolves of distinct references make one call each', async () => {
    const { resolver, state } = setup();
    state.hold();
    const refs = ['a', 'b', 'c'].map((k) => `$secret://fake/p/${k}`);
    const all = Promise.all(refs.flatMap((r) => Array.from({ length: 300 }, () => resolver.resolve(r))));
    expect(state.calls).toBe(3);
    state.release();
    const values = await all;
    expect(new Set(values)).toEqual(new Set(['a-v1', 'b-v1', 'c-v1']));
    expect(state.calls).toBe(3);
    expect(resolver.stats().fake).toMatchObject({ misses: 900, fetches: 3 });
  });

  it('is bounded: never holds more than maxEntries references', async () => {
    const { resolver } = setup({ max: 50 });
    for (let i = 0; i < 500; i++) await resolver.resolve(`$secret://fake/p/k${i}`);
    expect(resolver.size).toBe(50);
    expect(resolver.peek('$secret://fake/p/k499').state).toBe('fresh');
    expect(resolver.peek('$secret://fake/p/k0').state).toBe('missing');
  });

  it('counts per manager only: no secret name or value in the metrics', async () => {
    const { resolver, clock, state } = setup();
    await resolver.resolve('$secret://fake/p/very-secret-name');
    await resolver.resolve('$secret://fake/p/very-secret-name');
    state.answer = () => new Error('down');
    clock.advance(11);
    await resolver.resolve('$secret://fake/p/very-secret-name');
    await resolver.whenSettled('$secret://fake/p/very-secret-name');
    const stats = resolver.stats();
    expect(Object.keys(stats)).toEqual(['fake']);
    expect(stats.fake).toEqual({ hits: 1, misses: 1, fetches: 2, errors: 1, staleServes: 1 });
    expect(JSON.stringify(stats)).not.toMatch(/very-secret|v1/);
  });
});

describe('rotation grace in the resolver (AWS emulator, real SDK)', () => {
  let h: Harness;
  const ref = '$secret://aws/rot/rotating/key';
  beforeEach(async () => {
    h = await harness({ ttlSeconds: 10 });
    h.emu.putSecret('rotating', { key: 'rot-v1' });
  });
  afterEach(() => h.close());

  it('without rotation_grace a rotation replaces the value and offers no previous one', async () => {
    h.resolver.setProvider('aws', 'rot', awsConf(h.emu));
    expect(await h.resolver.resolve(ref)).toBe('rot-v1');
    h.emu.putSecret('rotating', { key: 'rot-v2' });
    h.clock.advance(11);
    h.resolver.refreshIfStale(ref);
    await h.resolver.whenSettled(ref);
    expect(h.resolver.peek(ref)).toEqual({ state: 'fresh', value: 'rot-v2' });
    expect(h.emu.calls.total).toBe(2);
  });

  it('with rotation_grace the AWSPREVIOUS value is offered until the grace ends, for one extra call per rotation', async () => {
    h.resolver.setProvider('aws', 'rot', { ...awsConf(h.emu), rotation_grace: 30 } as never);
    expect(await h.resolver.resolve(ref)).toBe('rot-v1');
    expect(h.resolver.peek(ref).previous).toBeUndefined();
    // two rotations within one TTL: AWSPREVIOUS is v2, not the v1 this node held
    h.emu.putSecret('rotating', { key: 'rot-v2' });
    h.emu.putSecret('rotating', { key: 'rot-v3' });
    h.clock.advance(11);
    const seenAt = h.clock.t;
    h.resolver.refreshIfStale(ref);
    await h.resolver.whenSettled(ref);
    expect(h.resolver.peek(ref)).toEqual({ state: 'fresh', value: 'rot-v3', previous: 'rot-v2', previousUntil: seenAt + 30_000 });
    expect(h.emu.calls.byTarget.GetSecretValue).toBe(3); // current, then current + previous
    // refreshes that see no change make one call and keep the deadline
    h.clock.advance(11);
    h.resolver.refreshIfStale(ref);
    await h.resolver.whenSettled(ref);
    expect(h.emu.calls.byTarget.GetSecretValue).toBe(4);
    expect(h.resolver.peek(ref).previousUntil).toBe(seenAt + 30_000);
    h.clock.t = seenAt + 29_999;
    expect(h.resolver.peek(ref).previous).toBe('rot-v2');
    h.clock.t = seenAt + 30_000;
    expect(h.resolver.peek(ref)).toEqual({ state: 'stale', value: 'rot-v3' });
    expect(h.log.text()).not.toMatch(/rot-v\d/);
  });
});
