/**
 * Soak: one `portico start` node (traditional role, defaults) in front of the testkit echo
 * upstream gets mixed traffic at about half of its maximum throughput for BENCH_SOAK_S seconds
 * (default 300): valid requests (80 %, each answer checked), malformed byte streams from the
 * differential fuzz's generator (10 %, packages/http1/test/fuzz/request-streams.ts), and
 * requests cut by the client at every phase (10 %: mid-head, after the head, mid-body, while
 * the upstream is answering, mid-download). It reports crashes (the node or a worker exiting,
 * must be 0), the RSS drift of the node's process tree between the first and the last minute
 * (must stay under 10 %), and whether every valid request was answered correctly.
 *
 * The maximum is measured first (closed loop, 64 concurrent valid requests, BENCH_SOAK_CALIBRATE_S,
 * default 15 s) with this same generator; BENCH_SOAK_RATE sets the rate instead. Results go to
 * bench/results/soak-<date>.json.
 */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import * as net from 'node:net';
import * as path from 'node:path';
import fc from 'fast-check';
import { Pool } from 'undici';
import { startEchoUpstream, startPortico, waitFor, type PorticoProcess } from '@portico/testkit';
import { requestStream, type RequestStream } from '../packages/http1/test/fuzz/request-streams';

const ROOT = path.resolve(__dirname, '..');
const DURATION_S = Number(process.env.BENCH_SOAK_S ?? 300);
const CALIBRATE_S = Number(process.env.BENCH_SOAK_CALIBRATE_S ?? 15);
const TICK_MS = 10;
/** Requests allowed in flight before the generator counts a tick's share as not sent (it is behind). */
const MAX_IN_FLIGHT = 2000;

interface Counts {
  validSent: number;
  validOk: number;
  validWrong: number;
  validFailed: number;
  malformed: number;
  aborted: number;
  skipped: number;
}

/** RSS of `pid` and its descendants (the node's workers), bytes. */
function treeRss(pid: number): number {
  let total = 0;
  const visit = (p: number): void => {
    try {
      const status = readFileSync(`/proc/${p}/status`, 'utf8');
      total += Number(/VmRSS:\s+(\d+) kB/.exec(status)?.[1] ?? 0) * 1024;
      const children = readFileSync(`/proc/${p}/task/${p}/children`, 'utf8').trim();
      for (const c of children ? children.split(/\s+/) : []) visit(Number(c));
    } catch {
      // gone
    }
  };
  visit(pid);
  return total;
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** A valid request with its answer checked: the echo upstream reports the path it got. */
async function valid(pool: Pool, n: number, counts: Counts): Promise<void> {
  counts.validSent++;
  const path = `/soak/${n % 97}?i=${n}`;
  try {
    const res = await pool.request({ path, method: 'GET', headers: { 'x-soak': String(n) } });
    const text = await res.body.text();
    let url: string | undefined;
    try {
      url = (JSON.parse(text) as { url?: string }).url;
    } catch {
      url = undefined;
    }
    if (res.statusCode === 200 && url === path) counts.validOk++;
    else counts.validWrong++;
  } catch {
    counts.validFailed++;
  }
}

/** A raw connection that sends `writes` and then ends, resets, or waits `holdMs` and resets. */
function raw(port: number, writes: Buffer[], end: 'end' | 'reset', delayMs = 0): Promise<void> {
  return new Promise((resolve) => {
    const sock = net.connect(port, '127.0.0.1');
    let done = false;
    const finish = (): void => {
      if (done) return;
      done = true;
      clearTimeout(guard);
      sock.destroy();
      resolve();
    };
    // nothing here may wait on the server for long: a stuck connection is cut after 5 s
    const guard = setTimeout(finish, 5000);
    sock.on('error', finish);
    sock.on('close', finish);
    sock.on('data', () => undefined);
    sock.on('connect', () => {
      for (const w of writes) sock.write(w);
      setTimeout(() => {
        if (end === 'reset') {
          sock.resetAndDestroy();
          finish();
        } else sock.end();
      }, delayMs);
    });
  });
}

/** Malformed or hostile streams from the fuzz generator, sent whole. */
function malformed(port: number, s: RequestStream, counts: Counts): Promise<void> {
  counts.malformed++;
  return raw(port, s.writes.map((w) => Buffer.from(w, 'latin1')), s.action === 'reset' ? 'reset' : 'end', 5);
}

/** A request the client cuts at one of the phases of its life. */
function aborted(port: number, n: number, counts: Counts): Promise<void> {
  counts.aborted++;
  const host = 'Host: soak\r\n';
  switch (n % 6) {
    case 0: // mid-head
      return raw(port, [Buffer.from(`GET /soak/a HTTP/1.1\r\n${host}X-Part`)], 'reset');
    case 1: // head of a body request, no body
      return raw(port, [Buffer.from(`POST /soak/a HTTP/1.1\r\n${host}Content-Length: 1000\r\n\r\n`)], n % 12 === 1 ? 'reset' : 'end', 2);
    case 2: // mid-body (chunked)
      return raw(port, [Buffer.from(`POST /soak/a HTTP/1.1\r\n${host}Transfer-Encoding: chunked\r\n\r\n10\r\nabc`)], 'reset', 2);
    case 3: // while the upstream is answering slowly
      return raw(port, [Buffer.from(`GET /delay/50 HTTP/1.1\r\n${host}\r\n`)], 'reset', 10);
    case 4: // mid-download
      return raw(port, [Buffer.from(`GET /stream/2000000 HTTP/1.1\r\n${host}\r\n`)], 'reset', 5);
    default: // a body to a route that will not read it (no route: 404), then gone
      return raw(port, [Buffer.from(`POST /no-route HTTP/1.1\r\n${host}Content-Length: 100\r\n\r\nabc`)], 'reset', 5);
  }
}

async function calibrate(pool: Pool): Promise<number> {
  const counts: Counts = { validSent: 0, validOk: 0, validWrong: 0, validFailed: 0, malformed: 0, aborted: 0, skipped: 0 };
  const until = Date.now() + CALIBRATE_S * 1000;
  let n = 0;
  await Promise.all(Array.from({ length: 64 }, async () => {
    while (Date.now() < until) await valid(pool, n++, counts);
  }));
  return counts.validOk / CALIBRATE_S;
}

async function main(): Promise<void> {
  const echo = await startEchoUpstream({ name: 'soak-echo' });
  const node: PorticoProcess = await startPortico({ name: 'soak', role: 'traditional' });
  const port = Number(new URL(node.proxyUrl).port);
  const pid = node.pid!;
  const pool = new Pool(node.proxyUrl, { connections: 64, pipelining: 1 });
  const streams = fc.sample(requestStream, { seed: 20261207, numRuns: 5000 });
  try {
    const put = await fetch(`${node.adminUrl}/apisix/admin/routes/soak`, {
      method: 'PUT',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ uri: '/*', upstream: { type: 'roundrobin', nodes: { [`127.0.0.1:${echo.port}`]: 1 } } }),
    });
    if (put.status >= 300) throw new Error(`route PUT: ${put.status} ${await put.text()}`);
    await waitFor(async () => (await fetch(`${node.proxyUrl}/soak/ready`)).status === 200, { what: 'the soak route' });

    const max = await calibrate(pool);
    const rate = Number(process.env.BENCH_SOAK_RATE ?? Math.round(max / 2));
    console.log(`soak: max ${Math.round(max)} valid req/s (closed loop, 64 concurrent); running ${DURATION_S} s at ${rate} req/s ` +
      '(80 % valid, 10 % malformed, 10 % aborted)');

    const counts: Counts = { validSent: 0, validOk: 0, validWrong: 0, validFailed: 0, malformed: 0, aborted: 0, skipped: 0 };
    const rss: Array<{ t: number; bytes: number }> = [];
    let inFlight = 0;
    let n = 0;
    let owed = 0;
    const start = Date.now();
    const track = (p: Promise<void>): void => {
      inFlight++;
      void p.finally(() => inFlight--);
    };
    const ticker = setInterval(() => {
      // open loop: what the rate owes by the wall clock, so a late tick catches up
      const due = Math.floor((rate * (Date.now() - start)) / 1000);
      for (; owed < due; owed++) {
        if (inFlight >= MAX_IN_FLIGHT) {
          counts.skipped++;
          continue;
        }
        const i = n++;
        const kind = i % 10;
        if (kind < 8) track(valid(pool, i, counts));
        else if (kind === 8) track(malformed(port, streams[i % streams.length], counts));
        else track(aborted(port, i, counts));
      }
    }, TICK_MS);
    const sampler = setInterval(() => rss.push({ t: (Date.now() - start) / 1000, bytes: treeRss(pid) }), 5000);
    let lastReport = start;
    while (Date.now() - start < DURATION_S * 1000 && alive(pid)) {
      await new Promise((r) => setTimeout(r, 1000));
      if (Date.now() - lastReport >= 30_000) {
        lastReport = Date.now();
        const last = rss[rss.length - 1];
        console.log(`  ${Math.round((Date.now() - start) / 1000)} s: ${JSON.stringify(counts)}, in flight ${inFlight}, ` +
          `RSS ${last ? (last.bytes / 2 ** 20).toFixed(1) : '?'} MB`);
      }
    }
    clearInterval(ticker);
    clearInterval(sampler);
    await waitFor(() => inFlight === 0, { timeoutMs: 30_000, what: 'the last requests' }).catch(() => undefined);
    const elapsed = (Date.now() - start) / 1000;

    const log = node.log();
    const workerExits = (log.match(/proxy worker exited/g) ?? []).length;
    const nodeAlive = alive(pid);
    const crashes = workerExits + (nodeAlive ? 0 : 1);
    const minute = (from: number, to: number) => {
      const xs = rss.filter((s) => s.t >= from && s.t < to).map((s) => s.bytes);
      return xs.length ? xs.reduce((a, b) => a + b, 0) / xs.length : NaN;
    };
    const first = minute(0, 60);
    const lastMin = minute(elapsed - 60, elapsed + 1);
    const drift = (lastMin - first) / first;
    const allValidOk = counts.validOk === counts.validSent;
    const result = {
      date: new Date().toISOString(), node: process.version, durationS: Math.round(elapsed), maxRps: Math.round(max), rate,
      achievedRps: Math.round((counts.validSent + counts.malformed + counts.aborted) / elapsed), counts, crashes, workerExits, nodeAlive,
      rssFirstMinuteMB: +(first / 2 ** 20).toFixed(1), rssLastMinuteMB: +(lastMin / 2 ** 20).toFixed(1), rssDriftPct: +(drift * 100).toFixed(1),
      allValidAnsweredCorrectly: allValidOk,
      rssSamples: rss.map((s) => [Math.round(s.t), +(s.bytes / 2 ** 20).toFixed(1)]),
    };
    console.log(`\nsoak result: ${elapsed.toFixed(0)} s at ${result.achievedRps} req/s (target ${rate}, max ${result.maxRps}); ` +
      `crashes ${crashes} ${crashes === 0 ? 'OK' : 'FAIL'}; RSS ${result.rssFirstMinuteMB} -> ${result.rssLastMinuteMB} MB, drift ` +
      `${result.rssDriftPct} % ${Math.abs(drift) < 0.1 ? 'OK' : 'FAIL'}; valid ${counts.validOk}/${counts.validSent} answered correctly ` +
      `(${counts.validWrong} wrong, ${counts.validFailed} failed) ${allValidOk ? 'OK' : 'FAIL'}; malformed ${counts.malformed}, ` +
      `aborted ${counts.aborted}, not sent (generator behind) ${counts.skipped}`);
    const outDir = path.join(ROOT, 'bench/results');
    mkdirSync(outDir, { recursive: true });
    const file = `soak-${result.date.slice(0, 10)}.json`;
    writeFileSync(path.join(outDir, file), JSON.stringify(result, null, 1) + '\n');
    console.log(`wrote bench/results/${file}`);
    if (crashes > 0 || Math.abs(drift) >= 0.1 || !allValidOk) process.exitCode = 1;
  } finally {
    await pool.close().catch(() => undefined);
    await node.stop();
    await echo.close();
  }
}

main().then(() => process.exit(process.exitCode ?? 0), (err) => {
  console.error(err);
  process.exit(1);
});
