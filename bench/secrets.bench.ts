/**
 * Secrets benchmark: provider calls per node and the cost of a secret-backed key.
 *
 * 1. Provider calls per node: one gateway (EmbeddedStore, real AWS SDK against the testkit
 *    Secrets Manager emulator), a consumer whose key is `$secret://aws/...`, secret ttl 5 s,
 *    1,000 req/s of key-auth traffic (90 % the right key, 10 % random keys) for 60 s. Counts
 *    GetSecretValue calls. Target ≤ 13 (one cold fetch + one refresh per TTL).
 * 2. key-auth hit cost: ConsumerIndex.lookup (the hot path key-auth calls) of a secret-backed
 *    key vs a plain key, interleaved rounds, median ns/lookup. Target within 5 %.
 *
 * Run with `make bench` (against the built packages). BENCH_SECONDS overrides the 60 s.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { DEFAULT_CONFIG, deepMerge, EmbeddedStore, type PorticoConfig } from '@portico/core';
import { ConsumerIndex, createGateway } from '@portico/gateway';
import { SecretResolver } from '@portico/secrets';
import { startAwsSecretsEmulator, startEchoUpstream, startSteadyLoad, waitFor } from '@portico/testkit';

const SECONDS = Number(process.env.BENCH_SECONDS ?? 60);
const RPS = 1000;
const TTL = 5;
const TARGETS = { providerCalls: 13, hitCostRatio: 1.05 };
const CREDS = { accessKeyId: 'AKIDBENCH', secretAccessKey: 'bench-secret-access-key' };

async function providerCalls(): Promise<{ calls: number; sent: number; ok: number; failed: number; seconds: number }> {
  const emu = await startAwsSecretsEmulator({ credentials: [CREDS] });
  const echo = await startEchoUpstream({ name: 'bench' });
  const dir = mkdtempSync(path.join(os.tmpdir(), 'portico-bench-secrets-'));
  const store = await EmbeddedStore.open(dir);
  const config: PorticoConfig = deepMerge(DEFAULT_CONFIG, { apisix: { lru: { secret: { ttl: TTL, neg_ttl: 1 } } } });
  const gw = createGateway({
    store,
    config,
    listen: { proxy: [{ ip: '127.0.0.1', port: 0 }], control: false },
    poolLingerMs: 0,
    shutdownTimeoutMs: 2000,
  });
  const { proxyPorts } = await gw.start();
  await gw.whenReady();
  emu.putSecret('bench/keys', { jack: 'bench-jack-key' });
  const put = async (k: string, v: unknown) => {
    const { revision } = await store.put(`/apisix/${k}`, JSON.stringify(v));
    await waitFor(() => gw.appliedRevision >= revision);
  };
  await put('secrets/aws/1', { access_key_id: CREDS.accessKeyId, secret_access_key: CREDS.secretAccessKey, endpoint_url: emu.endpoint });
  await put('consumers/jack', { username: 'jack', plugins: { 'key-auth': { key: '$secret://aws/1/bench/keys/jack' } } });
  await put('routes/1', { uri: '/bench', plugins: { 'key-auth': {} }, upstream: { nodes: { [`127.0.0.1:${echo.port}`]: 1 } } });

  const base = `http://127.0.0.1:${proxyPorts[0]}/bench?apikey=`;
  const urls = Array.from({ length: 100 }, (_, i) => (i % 10 === 9 ? `${base}random-${i}-${Math.random()}` : `${base}bench-jack-key`));
  emu.resetCalls();
  const started = Date.now();
  const load = startSteadyLoad({ urls, rps: RPS, expectStatus: 200 });
  await new Promise((r) => setTimeout(r, SECONDS * 1000));
  // the window ends now: count before waiting for the requests still in flight
  const calls = emu.callsFor('bench/keys');
  const seconds = (Date.now() - started) / 1000;
  const report = await load.stop();
  await gw.stop();
  await store.close();
  await echo.close();
  await emu.close();
  rmSync(dir, { recursive: true, force: true });
  // random keys are 401 by design (10 %): count them as expected, not failed
  return { calls, sent: report.sent, ok: report.ok, failed: report.failed, seconds };
}

async function hitCost(): Promise<{ plainNs: number; secretNs: number; ratio: number }> {
  const resolver = new SecretResolver({
    ttlSeconds: 3600, negTtlSeconds: 60, maxEntries: 100, env: { BENCH_KEY: 'secret-backed-key' },
  });
  const index = new ConsumerIndex({ resolver });
  index.setConsumer('plain', { username: 'plain', plugins: { 'key-auth': { key: 'plain-literal-key' } } });
  index.setConsumer('secret', { username: 'secret', plugins: { 'key-auth': { key: '$env://BENCH_KEY' } } });
  // warm: resolve the reference once (a miss waits for cold references)
  await index.lookup('warm-up-miss');
  if ((index.lookup('secret-backed-key') as { username?: string })?.username !== 'secret') throw new Error('secret key did not resolve');
  const N = 2_000_000;
  const round = (key: string): number => {
    const t0 = process.hrtime.bigint();
    let found = 0;
    for (let i = 0; i < N; i++) if (index.lookup(key)) found++;
    const ns = Number(process.hrtime.bigint() - t0) / N;
    if (found !== N) throw new Error('lookup missed');
    return ns;
  };
  const plain: number[] = [];
  const secret: number[] = [];
  for (let r = 0; r < 15; r++) {
    // interleaved so drift (JIT, GC, CPU frequency) hits both alike
    if (r % 2 === 0) {
      plain.push(round('plain-literal-key'));
      secret.push(round('secret-backed-key'));
    } else {
      secret.push(round('secret-backed-key'));
      plain.push(round('plain-literal-key'));
    }
  }
  const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
  index.close();
  resolver.close();
  const plainNs = median(plain.slice(3));
  const secretNs = median(secret.slice(3));
  return { plainNs, secretNs, ratio: secretNs / plainNs };
}

async function main(): Promise<void> {
  const cost = await hitCost();
  console.log(`key-auth hit: plain key ${cost.plainNs.toFixed(1)} ns, secret-backed key ${cost.secretNs.toFixed(1)} ns, `
    + `ratio ${cost.ratio.toFixed(3)} (target ≤ ${TARGETS.hitCostRatio}) ${cost.ratio <= TARGETS.hitCostRatio ? 'MET' : 'NOT MET'}`);
  console.log(`provider calls: ${SECONDS} s at ${RPS} req/s, ttl ${TTL} s ...`);
  const pc = await providerCalls();
  const perMin = pc.calls * (60 / pc.seconds);
  console.log(`provider calls per node: ${pc.calls} in ${pc.seconds.toFixed(1)} s (${pc.sent} requests, ${pc.ok} accepted, `
    + `${pc.failed} rejected or failed incl. ~10 % random keys) (target ≤ ${TARGETS.providerCalls}) `
    + `${pc.calls <= TARGETS.providerCalls ? 'MET' : 'NOT MET'}`);
  const date = new Date().toISOString().slice(0, 10);
  const out = path.join(__dirname, 'results', `secrets-${date}.json`);
  mkdirSync(path.dirname(out), { recursive: true });
  writeFileSync(out, `${JSON.stringify({
    date: new Date().toISOString(),
    node: process.version,
    providerCalls: { ...pc, perMinute: perMin, rps: RPS, ttlSeconds: TTL, target: TARGETS.providerCalls, met: pc.calls <= TARGETS.providerCalls },
    hitCost: { ...cost, target: TARGETS.hitCostRatio, met: cost.ratio <= TARGETS.hitCostRatio },
  }, null, 2)}\n`);
  console.log(`wrote ${path.relative(process.cwd(), out)}`);
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
