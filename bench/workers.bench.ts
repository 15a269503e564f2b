/**
 * Worker scaling benchmark (`apisix.workers`): Portico key-auth with 1 worker (one
 * process) and with 2 workers (a primary that owns the watch and the secret cache, plus two
 * proxy workers), same route, same upstream, same load, one run.
 *
 * On this 2-vCPU machine the load generator (wrk) and the upstream (nginx `return 200`) compete
 * with the workers for the same two cores, so the figure to read is the CPU split next to the
 * throughput, not the ratio alone. On a larger machine, give each side its own cores:
 *
 *   BENCH_SUT_CPUS=0-1 BENCH_LOAD_CPUS=2-7 BENCH_WRK_THREADS=4 make bench BENCH=bench/workers.bench.ts
 *
 * where 2 workers should reach ≥ 1.7× one (the target).
 */
import { ChildProcess, execFileSync, spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { freePorts, startPortico, waitFor, type PorticoProcess } from '@portico/testkit';
import { NODE_FLAGS } from '../packages/cli/src/v8-flags';
import { nginxConf } from './proxy.bench';

const ROOT = path.resolve(__dirname, '..');
const SUT_CPUS = process.env.BENCH_SUT_CPUS ?? '';
const LOAD_CPUS = process.env.BENCH_LOAD_CPUS ?? '';
const WRK_THREADS = Number(process.env.BENCH_WRK_THREADS ?? 1);
const WARMUP_S = Number(process.env.BENCH_WARMUP_S ?? 2);
const DURATION_S = Number(process.env.BENCH_DURATION_S ?? 10);
const CONNECTIONS = Number(process.env.BENCH_CONNECTIONS ?? 64);
const KEY = 'bench-workers-key-0123456789';
const TARGET_SCALING = 1.7;
const CLK_TCK = (() => { try { return Number(execFileSync('getconf', ['CLK_TCK']).toString()); } catch { return 100; } })();

const spawned: ChildProcess[] = [];
process.on('exit', () => { for (const c of spawned) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL'); });

/** `cmd args` under `taskset -c cpus` when cpus is set. */
function spawnOn(cpus: string, cmd: string, args: string[]): ChildProcess & { output: () => string } {
  const child = (cpus ? spawn('taskset', ['-c', cpus, cmd, ...args]) : spawn(cmd, args)) as ChildProcess & { output: () => string };
  let out = '';
  child.stdout?.on('data', (d) => (out += d));
  child.stderr?.on('data', (d) => (out += d));
  child.output = () => out;
  spawned.push(child);
  return child;
}

/** A process and its children (a Portico primary's workers). */
function pidTree(pid: number): number[] {
  const out = [pid];
  try {
    for (const t of readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim().split(/\s+/)) if (t) out.push(Number(t));
  } catch { /* no children */ }
  return out;
}

function cpuSeconds(pid: number): number {
  try {
    const s = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const f = s.slice(s.lastIndexOf(')') + 2).split(' ');
    return (Number(f[11]) + Number(f[12])) / CLK_TCK;
  } catch { return 0; }
}

/** All CPUs' jiffies from /proc/stat: busy (user+nice+system+irq+softirq), idle (+iowait), steal. */
function machineJiffies(): { busy: number; idle: number; steal: number } {
  const f = readFileSync('/proc/stat', 'utf8').split('\n')[0].trim().split(/\s+/).slice(1).map(Number);
  return { busy: f[0] + f[1] + f[2] + f[5] + f[6], idle: f[3] + f[4], steal: f[7] ?? 0 };
}

async function startUpstream(dir: string): Promise<{ port: number; child: ChildProcess }> {
  const [port] = await freePorts(1);
  const conf = nginxConf(dir, `  server { listen 127.0.0.1:${port} backlog=4096; location / { default_type text/plain; return 200 "ok\\n"; } }`);
  const child = spawnOn(LOAD_CPUS, 'nginx', ['-p', dir, '-e', `${dir}/logs/error.log`, '-c', conf]);
  await waitFor(async () => (await fetch(`http://127.0.0.1:${port}/`).catch(() => undefined))?.status === 200, { timeoutMs: 10_000, what: 'nginx upstream' });
  return { port, child };
}

interface Result {
  workers: number; rps: number; p50Ms: number; p99Ms: number; errors: number;
  /** cores used: the primary (or the single process), each worker, wrk + upstream; machine = share of all CPUs busy / stolen */
  cpu: { primary: number; workers: number[]; load: number; machineBusy: number; machineSteal: number };
}

/** One wrk run; also samples wrk's CPU time (read before it exits: its last 200 ms are lost, small). */
async function runWrk(url: string, seconds: number, script: string): Promise<{ requests: number; duration: number; p50: number; p99: number; status: number; errors: number; cpu: number }> {
  const child = spawnOn(LOAD_CPUS, 'wrk', [`-t${WRK_THREADS}`, `-c${CONNECTIONS}`, `-d${seconds}s`, '--latency', '-H', `apikey: ${KEY}`, '-s', script, url]);
  let cpu = 0;
  const sampler = setInterval(() => { cpu = Math.max(cpu, cpuSeconds(child.pid!)); }, 200);
  await new Promise<void>((resolve) => child.once('exit', () => resolve()));
  clearInterval(sampler);
  const m = /WRKJSON (\{.*\})/.exec(child.output());
  if (!m) throw new Error(`wrk printed no result:\n${child.output()}`);
  return { ...JSON.parse(m[1]), cpu };
}

async function measure(tmp: string, workers: number, upstreamPort: number, script: string, upstreamPid: number): Promise<Result> {
  const p: PorticoProcess = await startPortico({
    name: `bench-workers-${workers}`, role: 'traditional', extraConfig: { apisix: { workers } }, env: { PORTICO_LOG_LEVEL: 'warn' },
    nodeArgs: [...NODE_FLAGS], // as `make run` starts it (forked workers inherit them)
  });
  try {
    if (SUT_CPUS) for (const pid of pidTree(p.pid!)) execFileSync('taskset', ['-a', '-p', '-c', SUT_CPUS, String(pid)], { stdio: 'ignore' });
    const admin = async (pathname: string, body: unknown) => {
      const res = await fetch(`${p.adminUrl}/apisix/admin${pathname}`, { method: 'PUT', body: JSON.stringify(body) });
      if (res.status >= 300) throw new Error(`PUT ${pathname}: ${res.status} ${await res.text()}`);
    };
    await admin('/consumers', { username: 'alice', plugins: { 'key-auth': { key: KEY } } });
    await admin('/routes/bench', { uri: '/bench', plugins: { 'key-auth': {} }, upstream: { type: 'roundrobin', nodes: { [`127.0.0.1:${upstreamPort}`]: 1 } } });
    await waitFor(async () => (await fetch(`${p.proxyUrl}/bench`, { headers: { apikey: KEY } })).status === 200, { what: 'the route' });
    const url = `${p.proxyUrl}/bench`;
    await runWrk(url, WARMUP_S, script);
    const tree = pidTree(p.pid!);
    const before = tree.map(cpuSeconds);
    const upBefore = cpuSeconds(upstreamPid);
    const t0 = process.hrtime.bigint();
    const m0 = machineJiffies();
    const j = await runWrk(url, DURATION_S, script);
    const m1 = machineJiffies();
    const wall = Number(process.hrtime.bigint() - t0) / 1e9;
    const total = (m1.busy - m0.busy) + (m1.idle - m0.idle) + (m1.steal - m0.steal) || 1;
    const used = tree.map((pid, i) => (cpuSeconds(pid) - before[i]) / wall);
    const res: Result = {
      workers,
      rps: j.requests / (j.duration / 1e6),
      p50Ms: j.p50 / 1000,
      p99Ms: j.p99 / 1000,
      errors: j.status + j.errors,
      cpu: {
        primary: used[0], workers: used.slice(1), load: (j.cpu + cpuSeconds(upstreamPid) - upBefore) / wall,
        machineBusy: (m1.busy - m0.busy) / total, machineSteal: (m1.steal - m0.steal) / total,
      },
    };
    const pct = (x: number) => `${Math.round(x * 100)} %`;
    console.log(`  ${workers} worker(s): ${Math.round(res.rps).toLocaleString('en-US')} req/s  p50 ${res.p50Ms.toFixed(2)} ms  p99 ${res.p99Ms.toFixed(2)} ms` +
      `  CPU: ${workers > 1 ? `primary ${pct(res.cpu.primary)}, workers ${res.cpu.workers.map(pct).join(' + ')}` : `process ${pct(res.cpu.primary)}`}, wrk+upstream ${pct(res.cpu.load)}; all CPUs busy ${pct(res.cpu.machineBusy)}, steal ${pct(res.cpu.machineSteal)}` +
      (res.errors ? `  !! errors ${res.errors}` : ''));
    return res;
  } finally {
    await p.stop();
  }
}

async function main(): Promise<void> {
  execFileSync(path.join(ROOT, 'scripts/bench-tools.sh'), { stdio: 'inherit' });
  const tmp = mkdtempSync(path.join(os.tmpdir(), 'portico-bench-workers-'));
  const script = path.join(tmp, 'report.lua');
  writeFileSync(script, [
    'done = function(summary, latency, requests)',
    '  local e = summary.errors',
    '  io.write(string.format("WRKJSON {\\"requests\\":%d,\\"duration\\":%d,\\"p50\\":%d,\\"p99\\":%d,\\"status\\":%d,\\"errors\\":%d}\\n",',
    '    summary.requests, summary.duration, latency:percentile(50), latency:percentile(99), e.status, e.connect + e.read + e.write + e.timeout))',
    'end',
  ].join('\n') + '\n');
  const upstream = await startUpstream(path.join(tmp, 'upstream'));
  console.log(`Worker scaling: ${os.cpus().length} CPUs, Portico on ${SUT_CPUS || 'any CPU'}, wrk (${WRK_THREADS} thread(s), ${CONNECTIONS} connections) and upstream on ${LOAD_CPUS || 'any CPU'}; ${DURATION_S} s per case`);
  const one = await measure(tmp, 1, upstream.port, script, upstream.child.pid!);
  const two = await measure(tmp, 2, upstream.port, script, upstream.child.pid!);
  upstream.child.kill('SIGQUIT');
  const ratio = two.rps / one.rps;
  const sut = (r: Result) => r.cpu.primary + r.cpu.workers.reduce((a, b) => a + b, 0);
  console.log(`  2 workers / 1 worker: ${ratio.toFixed(2)}× throughput; Portico CPU ${sut(one).toFixed(2)} → ${sut(two).toFixed(2)} cores, wrk+upstream ${one.cpu.load.toFixed(2)} → ${two.cpu.load.toFixed(2)} cores`);
  const dedicated = SUT_CPUS && LOAD_CPUS;
  console.log(dedicated
    ? `  target 2 workers ≥ ${TARGET_SCALING}× one: ${ratio >= TARGET_SCALING ? 'met' : 'NOT met'} (${ratio.toFixed(2)})`
    : `  target 2 workers ≥ ${TARGET_SCALING}× one: not applicable here — Portico and the load share the cores (see the CPU split); run with BENCH_SUT_CPUS/BENCH_LOAD_CPUS on a larger machine`);
  const date = new Date().toISOString().slice(0, 10);
  mkdirSync(path.join(ROOT, 'bench/results'), { recursive: true });
  writeFileSync(path.join(ROOT, `bench/results/workers-${date}.json`), JSON.stringify({
    date, node: process.version, cpus: os.cpus().length, sutCpus: SUT_CPUS || 'any', loadCpus: LOAD_CPUS || 'any',
    wrkThreads: WRK_THREADS, connections: CONNECTIONS, durationS: DURATION_S, results: [one, two], ratio,
  }, null, 2) + '\n');
}

main().then(() => process.exit(0), (err) => {
  console.error(err);
  process.exit(1);
});
