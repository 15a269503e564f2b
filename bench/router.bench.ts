/**
 * Router benchmark: 1k, 10k and 100k routes, mixed static / prefix / param / host.
 * Measures, per size: time to load all routes (one batch, as the first ConfigSync load), heap
 * used by the router after gc, median match time, and the time to apply one route change
 * (replace, add or delete one route in the loaded table). Targets at 100k: match ≤ 2 µs
 * median, one-route change ≤ 5 ms (p99 of the changes measured), full load ≤ 3 s.
 *
 * Matches use fresh request objects and strings (see freshRequests), and so does the Map.get
 * baseline: a string V8 has hashed before carries its hash, which a real request never does.
 *
 * Run with `make bench` (node --expose-gc, against the built packages).
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { Router, type MatchRequest, type RouteSpec } from '@portico/gateway';

const SIZES = [1_000, 10_000, 100_000];
const TARGETS = { matchMedianUs: 2, changeP99Ms: 5, loadS: 3 };

/** Deterministic PRNG (mulberry32) so every run benchmarks the same tables. */
function rng(seed: number): () => number {
  let a = seed;
  return () => {
    a |= 0;
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const WORDS = ['api', 'v1', 'v2', 'users', 'orders', 'items', 'admin', 'shop', 'cart', 'search', 'static', 'media',
  'billing', 'accounts', 'reports', 'events', 'auth', 'health', 'catalog', 'export'];

interface Generated {
  specs: Array<RouteSpec<string>>;
  /** A request that should hit each route (same index). */
  requests: MatchRequest[];
}

/** 45 % static, 20 % prefix, 20 % `:param`, 15 % host routes (a third of them `*.` wildcards). */
function generate(n: number, seed = 42): Generated {
  const rand = rng(seed);
  const pick = <T>(xs: readonly T[]) => xs[Math.floor(rand() * xs.length)];
  const specs: Array<RouteSpec<string>> = [];
  const requests: MatchRequest[] = [];
  const hostCount = Math.max(10, Math.floor(n / 100));
  for (let i = 0; i < n; i++) {
    const id = String(i);
    const base = `/${pick(WORDS)}/${pick(WORDS)}/r${i}`;
    const kind = rand();
    const base64 = { method: 'GET', remoteAddr: '10.0.0.1', host: undefined as string | undefined };
    if (kind < 0.45) {
      specs.push({ id, paths: [base], methods: i % 3 === 0 ? ['GET', 'POST'] : undefined, payload: id });
      requests.push({ ...base64, path: base });
    } else if (kind < 0.65) {
      specs.push({ id, paths: [`${base}/*`], payload: id });
      requests.push({ ...base64, path: `${base}/deep/er/path` });
    } else if (kind < 0.85) {
      specs.push({ id, paths: [`${base}/:id/detail`], payload: id });
      requests.push({ ...base64, path: `${base}/12345/detail` });
    } else {
      const h = Math.floor(rand() * hostCount);
      const wildcard = h % 3 === 0;
      const host = wildcard ? `*.t${h}.example.com` : `h${h}.example.com`;
      specs.push({ id, paths: [base, `${base}/*`], hosts: [host], payload: id });
      requests.push({ ...base64, path: `${base}/x`, host: wildcard ? `www.t${h}.example.com` : host });
    }
  }
  return { specs, requests };
}

/**
 * Requests as the proxy hands them to the router: a fresh object per request, the path sliced
 * off a freshly built request target (`path?query`, as proxy.ts does with `req.url`) and a fresh
 * host string. Fresh strings matter: V8 caches a string's hash in the string, so looking up the
 * very strings that were inserted (or looked up before) skips hashing and makes any hash-table
 * lookup look cheaper than it is for a real request. Built outside the timed loops, in the
 * random order, so each timed match reads a request object that is not in cache either.
 */
function freshRequests(order: readonly MatchRequest[], round: number): MatchRequest[] {
  const out: MatchRequest[] = new Array(order.length);
  for (let k = 0; k < order.length; k++) {
    const q = order[k];
    const target = `${q.path}?r=${round}&k=${k}`;
    const path = target.slice(0, target.indexOf('?'));
    const host = q.host === undefined ? undefined : `${q.host}:8080`.slice(0, -5);
    out[k] = { method: q.method, path, host, remoteAddr: q.remoteAddr };
  }
  return out;
}

function gc(): void {
  const g = (globalThis as { gc?: () => void }).gc;
  if (!g) throw new Error('run with node --expose-gc (make bench does)');
  g();
  g();
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
}

function percentile(xs: number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor(s.length * p))];
}

function nowNs(): bigint {
  return process.hrtime.bigint();
}

interface Result {
  routes: number;
  loadMs: number;
  heapMB: number;
  matchMedianUs: number;
  matchP99Us: number;
  baselineMapGetUs: number;
  missMedianUs: number;
  changeMedianMs: number;
  changeP99Ms: number;
  changeMaxMs: number;
}

function benchSize(n: number): Result {
  const { specs, requests } = generate(n);
  gc();
  const heapBefore = process.memoryUsage().heapUsed;

  const router = new Router<string>();
  const t0 = nowNs();
  router.batch(() => {
    for (const s of specs) router.set(s);
  });
  const loadMs = Number(nowNs() - t0) / 1e6;
  gc();
  const heapMB = (process.memoryUsage().heapUsed - heapBefore) / 1024 / 1024;

  // Sanity: every generated request hits its route (a benchmark of a wrong router is worthless).
  for (let i = 0; i < requests.length; i += Math.max(1, Math.floor(n / 1000))) {
    const got = router.match(requests[i]);
    if (got !== specs[i].id) throw new Error(`route ${i}: request ${requests[i].path} matched ${got}`);
  }

  // Match: chunks of 1000 random hits over all routes (no hot set: at 100k routes almost every
  // hit is a route not seen for a long time); the per-match time of each chunk, median over
  // chunks. Three rounds, each over fresh request objects and strings.
  const rand = rng(7);
  const order = Array.from({ length: 200_000 }, () => requests[Math.floor(rand() * requests.length)]);
  const chunk = 1000;
  const perMatch: number[] = [];
  let sink = 0;
  for (let round = 0; round < 3; round++) {
    const reqs = freshRequests(order, round);
    for (let c = 0; c + chunk <= reqs.length; c += chunk) {
      const s = nowNs();
      for (let k = c; k < c + chunk; k++) if (router.match(reqs[k]) !== undefined) sink++;
      perMatch.push(Number(nowNs() - s) / chunk / 1000);
    }
  }
  // Baseline in the same run: one plain Map.get(path) per request over the same random order of
  // fresh requests (the floor of any router here: reading a cold request, hashing its path and
  // one cold hash-table entry).
  const plain = new Map(requests.map((q, i) => [q.path, i]));
  const baseline: number[] = [];
  const baseReqs = freshRequests(order, 3);
  for (let c = 0; c + chunk <= baseReqs.length; c += chunk) {
    const s = nowNs();
    for (let k = c; k < c + chunk; k++) if (plain.get(baseReqs[k].path) !== undefined) sink++;
    baseline.push(Number(nowNs() - s) / chunk / 1000);
  }
  const misses: number[] = [];
  const missReq: MatchRequest = { method: 'GET', path: '/nothing/here/at/all', host: 'unknown.example.org', remoteAddr: '10.0.0.1' };
  for (let c = 0; c < 200; c++) {
    const s = nowNs();
    for (let k = 0; k < chunk; k++) if (router.match(missReq) !== undefined) sink++;
    misses.push(Number(nowNs() - s) / chunk / 1000);
  }
  if (sink === 0) throw new Error('no match at all');

  // One-route changes against the loaded table: replace (new path), add, delete — each one
  // published on its own, as a single watch event would be.
  const changes: number[] = [];
  for (let i = 0; i < 600; i++) {
    const victim = specs[Math.floor(rand() * specs.length)];
    const s = nowNs();
    if (i % 3 === 0) router.set({ ...victim, paths: victim.paths.map((p) => p.replace('/r', '/moved/r')) });
    else if (i % 3 === 1) router.set({ id: `new-${i}`, paths: [`/fresh/${i}/*`], hosts: i % 2 ? ['h1.example.com'] : undefined, payload: 'x' });
    else router.delete(victim.id);
    changes.push(Number(nowNs() - s) / 1e6);
  }

  return {
    routes: n,
    loadMs: round(loadMs),
    heapMB: round(heapMB),
    matchMedianUs: round(median(perMatch), 3),
    matchP99Us: round(percentile(perMatch, 0.99), 3),
    baselineMapGetUs: round(median(baseline), 3),
    missMedianUs: round(median(misses), 3),
    changeMedianMs: round(median(changes), 4),
    changeP99Ms: round(percentile(changes, 0.99), 4),
    changeMaxMs: round(Math.max(...changes), 4),
  };
}

function round(x: number, digits = 2): number {
  const f = 10 ** digits;
  return Math.round(x * f) / f;
}

function main(): void {
  const results = SIZES.map(benchSize);
  console.log('routes    load ms   heap MB   match µs (median/p99)   Map.get µs   miss µs   change ms (median/p99/max)');
  for (const r of results) {
    console.log(`${String(r.routes).padEnd(9)} ${String(r.loadMs).padStart(8)} ${String(r.heapMB).padStart(9)}   `
      + `${r.matchMedianUs} / ${r.matchP99Us}`.padEnd(24) + `${String(r.baselineMapGetUs).padEnd(12)} ${String(r.missMedianUs).padEnd(9)} `
      + `${r.changeMedianMs} / ${r.changeP99Ms} / ${r.changeMaxMs}`);
  }
  const big = results[results.length - 1];
  const verdicts = {
    matchMedian: { target: `≤ ${TARGETS.matchMedianUs} µs`, value: big.matchMedianUs, met: big.matchMedianUs <= TARGETS.matchMedianUs },
    oneRouteChange: { target: `≤ ${TARGETS.changeP99Ms} ms (p99)`, value: big.changeP99Ms, met: big.changeP99Ms <= TARGETS.changeP99Ms },
    fullLoad: { target: `≤ ${TARGETS.loadS} s`, value: big.loadMs / 1000, met: big.loadMs <= TARGETS.loadS * 1000 },
  };
  console.log(`\ntargets at ${big.routes} routes:`);
  for (const [name, v] of Object.entries(verdicts)) console.log(`  ${name.padEnd(15)} ${String(v.value).padEnd(8)} ${v.target.padEnd(16)} ${v.met ? 'MET' : 'NOT MET'}`);

  const date = new Date().toISOString().slice(0, 10);
  const dir = path.join(__dirname, 'results');
  mkdirSync(dir, { recursive: true });
  const file = path.join(dir, `router-${date}.json`);
  writeFileSync(file, JSON.stringify({ date: new Date().toISOString(), node: process.version, platform: `${process.platform}-${process.arch}`,
    mix: '45% static, 20% prefix, 20% :param, 15% host (1/3 wildcard), hosts = routes/100',
    requests: 'random hits over all routes, fresh request objects and path/host strings (sliced from a fresh path?query)', results, targets: verdicts }, null, 2) + '\n');
  console.log(`\nwrote ${path.relative(process.cwd(), file)}`);
  if (!Object.values(verdicts).every((v) => v.met)) process.exitCode = 1;
}

main();
