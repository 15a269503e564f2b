import './helpers/quiet-logs';
import type { SecretResolver } from '@portico/secrets';
import { waitFor, type AwsSecretsEmulator, type EchoUpstream } from '@portico/testkit';
import type { Harness } from './helpers/harness';
import { startSecretsHarness, type SecretsHarness } from './helpers/secrets-harness';

/**
 * Secret-backed key-auth through the real gateway proxy, the real AWS SDK and the Secrets
 * Manager emulator: rotation (with and without rotation_grace), fault injection, floods.
 * The resolver runs on a hand-moved clock (TTLs without waiting); the SDK, the emulator and
 * HTTP keep real time.
 */

const CREDS = { accessKeyId: 'AKIDGATEWAYTEST', secretAccessKey: 'gateway-test-secret-access-key' };
const TTL = 10;
const NEG_TTL = 5;
/** random() pinned near 1: the longest TTL jitter allows (ttl × 1.1), the case rotation must survive */
const RANDOM = 0.99999;
const MAX_TTL = TTL * 1.1;

describe('key-auth with AWS Secrets Manager references (real SDK, emulator, gateway proxy)', () => {
  let s: SecretsHarness;
  let emu: AwsSecretsEmulator;
  let echo: EchoUpstream;
  let h: Harness;
  let resolver: SecretResolver;
  const aws = (over: Record<string, unknown> = {}) => s.awsConf(over);
  const advance = (seconds: number) => s.advance(seconds);
  /** Every secret value this file puts in the emulator; none may ever be logged. */
  const secretValue = (v: string) => s.secretValue(v);
  const status = async (key: string) => (await h.request('/auth', { headers: { apikey: key } })).status;

  beforeAll(async () => {
    s = await startSecretsHarness({ name: 'secrets-aws-test', creds: CREDS, ttl: TTL, negTtl: NEG_TTL, random: RANDOM });
    ({ emu, echo, h, resolver } = s);
    await h.put('secrets/aws/plain', aws());
    await h.put('secrets/aws/grace', aws({ rotation_grace: 60 }));
    await h.put('routes/auth', { uri: '/auth', plugins: { 'key-auth': {} }, upstream: { nodes: { [`127.0.0.1:${echo.port}`]: 1 } } });
  });
  afterAll(() => s?.close());
  afterEach(() => {
    emu.injectError(null);
    emu.injectLatency(0);
  });

  /** Sends `key` in a loop until stopped; returns every status seen, in order. */
  function traffic(key: string) {
    const seen: number[] = [];
    let running = true;
    const done = (async () => {
      while (running) seen.push(await status(key));
    })();
    return {
      seen,
      async stop() {
        running = false;
        await done;
        return seen;
      },
    };
  }

  describe('rotation', () => {
    it('without rotation_grace: the new key works within ttl + jitter, the old one stops at once', async () => {
      emu.putSecret('team-a', { ann: secretValue('ann-key-v1') });
      await h.put('consumers/ann', { username: 'ann', plugins: { 'key-auth': { key: '$secret://aws/plain/team-a/ann' } } });
      expect(await status('ann-key-v1')).toBe(200);
      const load = traffic('ann-key-v1');
      await waitFor(() => load.seen.length >= 5, { what: 'traffic running' });

      emu.putSecret('team-a', { ann: secretValue('ann-key-v2') });
      advance(TTL * 0.9); // short of the shortest jittered TTL: nothing changes yet
      await waitFor(() => load.seen.length >= 15, { what: 'more traffic' });
      expect(await status('ann-key-v2')).toBe(401);
      advance(MAX_TTL - TTL * 0.9 + 0.01); // just past the longest jittered TTL
      await waitFor(async () => (await status('ann-key-v2')) === 200, { what: 'rotated key accepted', timeoutMs: 10_000 });
      const seen = await load.stop();
      expect(await status('ann-key-v1')).toBe(401);
      // the old key served until the refresh landed, then 401: one switch, no flapping
      const firstReject = seen.indexOf(401);
      expect(firstReject).toBeGreaterThan(10);
      expect(seen.slice(firstReject).every((s) => s === 401)).toBe(true);
      expect(seen.slice(0, firstReject).every((s) => s === 200)).toBe(true);
    });

    it('with rotation_grace: both keys work during the window, only the new one after it', async () => {
      emu.putSecret('team-b', { bob: secretValue('bob-key-v1') });
      await h.put('consumers/bob', { username: 'bob', plugins: { 'key-auth': { key: '$secret://aws/grace/team-b/bob' } } });
      expect(await status('bob-key-v1')).toBe(200);
      const old = traffic('bob-key-v1');
      await waitFor(() => old.seen.length >= 5, { what: 'traffic running' });

      emu.putSecret('team-b', { bob: secretValue('bob-key-v2') });
      advance(MAX_TTL + 0.01);
      const seenAt = s.now();
      await waitFor(async () => (await status('bob-key-v2')) === 200, { what: 'rotated key accepted', timeoutMs: 10_000 });
      const during = old.seen.length;
      await waitFor(() => old.seen.length >= during + 10, { what: 'old-key traffic inside the grace window' });
      expect(await status('bob-key-v1')).toBe(200);
      expect(await status('bob-key-v2')).toBe(200);

      advance(59.9 - (s.now() - seenAt) / 1000); // still inside the 60 s window (past the next TTL: a refresh without change)
      await waitFor(() => emu.callsFor('team-b') >= 4, { what: 'refresh within the window' });
      expect(await status('bob-key-v1')).toBe(200);
      const seen = await old.stop();
      expect(seen.every((s) => s === 200)).toBe(true); // the client on the old key never saw a 401

      advance(0.2); // the grace ends
      expect(await status('bob-key-v1')).toBe(401);
      expect(await status('bob-key-v2')).toBe(200);
      expect(s.cap.lines.some((l) => l.ref === '$secret://aws/grace/team-b/bob' && String(l.msg).includes('rotation grace ended'))).toBe(true);
    });
  });

  describe('fault injection', () => {
    const cases: Array<[string, () => void]> = [
      ['5 s latency', () => emu.injectLatency(5000)],
      ['ThrottlingException', () => emu.injectError('throttle')],
      ['HTTP 500', () => emu.injectError('500')],
      ['full outage', () => emu.injectError('outage')],
    ];
    it.each(cases)('%s: cached keys keep serving, cold references fail closed, refreshes resume on recovery', async (label, inject) => {
      const id = label.replace(/\W+/g, '-').toLowerCase();
      const warmKey = secretValue(`warm-${id}-v1`);
      const coldKey = secretValue(`cold-${id}-v1`);
      emu.putSecret(`warm-${id}`, warmKey);
      emu.putSecret(`cold-${id}`, coldKey);
      const warmRef = `$secret://aws/plain/warm-${id}`;
      const coldRef = `$secret://aws/plain/cold-${id}`;
      await h.put(`consumers/warm-${id}`, { username: `warm-${id}`, plugins: { 'key-auth': { key: warmRef } } });
      expect(await status(warmKey)).toBe(200);

      inject();
      advance(MAX_TTL + 0.01);
      const errorsBefore = resolver.stats().aws.errors;
      // expired: served stale while the refresh fails in the background
      expect(await status(warmKey)).toBe(200);
      await waitFor(() => resolver.stats().aws.errors > errorsBefore, { what: 'failed refresh', timeoutMs: 10_000 });
      expect(await status(warmKey)).toBe(200);
      expect(resolver.peek(warmRef)).toMatchObject({ state: 'stale' });

      // a reference nobody resolved yet fails closed
      await h.put(`consumers/cold-${id}`, { username: `cold-${id}`, plugins: { 'key-auth': { key: coldRef } } });
      expect(await status(coldKey)).toBe(401);
      expect(await status(warmKey)).toBe(200);
      const warn = s.cap.lines.find((l) => l.ref === coldRef && String(l.msg).includes('could not be resolved'));
      expect(warn).toBeDefined();

      // recovery: after neg_ttl both resolve; the warm one picks up a rotation too
      emu.injectError(null);
      emu.injectLatency(0);
      const warmKey2 = secretValue(`warm-${id}-v2`);
      emu.putSecret(`warm-${id}`, warmKey2);
      advance(NEG_TTL + 0.01);
      await waitFor(async () => (await status(coldKey)) === 200, { what: 'cold reference resolves after recovery', timeoutMs: 10_000 });
      await waitFor(async () => (await status(warmKey2)) === 200, { what: 'warm reference refreshes after recovery', timeoutMs: 10_000 });
      expect(await status(warmKey)).toBe(401);
    });
  });

  describe('provider load', () => {
    it('a flood of random keys makes no provider call', async () => {
      const key = secretValue('flood-owner-key');
      emu.putSecret('flood', key);
      await h.put('consumers/flood', { username: 'flood', plugins: { 'key-auth': { key: '$secret://aws/plain/flood' } } });
      expect(await status(key)).toBe(200);
      emu.resetCalls();
      for (let batch = 0; batch < 10; batch++) {
        const codes = await Promise.all(Array.from({ length: 200 }, (_, i) => status(`random-${batch}-${i}-${Math.random()}`)));
        expect(codes.every((c) => c === 401)).toBe(true);
      }
      expect(emu.calls.total).toBe(0);
    });

    it('1,000 concurrent requests on a cold reference make one provider call', async () => {
      const key = secretValue('crowd-key');
      emu.putSecret('crowd', key);
      await h.put('consumers/crowd', { username: 'crowd', plugins: { 'key-auth': { key: '$secret://aws/plain/crowd' } } });
      emu.resetCalls();
      emu.injectLatency(300); // keep the one fetch in flight while the crowd arrives
      const replies = Array.from({ length: 1000 }, (_, i) => status(i % 2 === 0 ? key : `wrong-${i}`));
      const codes = await Promise.all(replies);
      expect(codes.filter((c) => c === 200)).toHaveLength(500);
      expect(codes.filter((c) => c === 401)).toHaveLength(500);
      expect(emu.callsFor('crowd')).toBe(1);
      expect(emu.calls.total).toBe(1);
    });
  });

  it('never logs a secret value (every line this suite wrote)', () => {
    const text = s.cap.text();
    expect(s.cap.lines.length).toBeGreaterThan(10);
    for (const v of s.secretValues) expect(text).not.toContain(v);
  });
});
