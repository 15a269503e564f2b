import { ChildProcess, spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { freePorts } from './free-port';

/**
 * A throwaway single-member etcd for tests: real binary, loopback ports, temporary data.
 *
 * Layout of `dataDir` (a fresh directory under os.tmpdir()):
 *   data/      etcd's --data-dir (kept across kill()/restart(), removed by stop())
 *   etcd.log   etcd's stdout+stderr, appended to across restarts (read it when a test fails)
 *
 * Every process started here is SIGKILLed when the test process exits, so a test that forgets
 * stop() still leaves nothing behind (unless the test process itself is SIGKILLed).
 */

export interface StartEtcdOptions {
  /** Member name; also part of the temp dir name. Default `portico-test`. */
  name?: string;
  /** Extra command-line flags appended to the defaults (e.g. `--auto-compaction-retention=1`). */
  extraArgs?: string[];
  /** How long to wait for `/health` to report healthy. Default 20 s. */
  startTimeoutMs?: number;
  /** etcd binary; default $ETCD_BIN or `etcd` on PATH. */
  binary?: string;
  /**
   * Serve clients over TLS (PEM file paths). With `clientCertAuth` etcd requires a client
   * certificate signed by `ca`. Health is then polled on a plain-http metrics listener.
   */
  tls?: EtcdTlsFiles;
}

export interface EtcdTlsFiles {
  ca: string;
  cert: string;
  key: string;
  clientCertAuth?: boolean;
}

export interface EtcdProcess {
  readonly name: string;
  /** Client URL, `http://127.0.0.1:<clientPort>`. */
  readonly endpoint: string;
  readonly clientPort: number;
  readonly peerPort: number;
  /** Temp directory holding `data/` and `etcd.log`. */
  readonly dataDir: string;
  readonly logFile: string;
  /** pid of the current etcd process, undefined while it is not running. */
  readonly pid: number | undefined;
  /** SIGTERM, wait for exit, remove dataDir. Idempotent. */
  stop(): Promise<void>;
  /** SIGKILL (a crash), wait for exit; data is kept so restart() can recover it. */
  kill(): Promise<void>;
  /** Start again on the same ports and data (stopping gracefully first if running); waits until healthy. */
  restart(): Promise<void>;
  /** SIGSTOP: the ports stay open but nothing answers (a hung server). */
  pause(): void;
  /** SIGCONT after pause(). */
  resume(): void;
}

const DEFAULT_START_TIMEOUT_MS = 20_000;
const STOP_GRACE_MS = 10_000;

/** Children alive right now; killed on process exit as a last resort. */
const liveChildren = new Set<ChildProcess>();
let exitHookInstalled = false;

function killAllChildren(): void {
  for (const child of liveChildren) {
    try {
      if (child.pid) process.kill(child.pid, 'SIGKILL');
    } catch {
      // already gone
    }
  }
  liveChildren.clear();
}

function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.once('exit', killAllChildren);
  // On a termination signal nobody else handles, clean up and then die of the same signal,
  // so the default behaviour (and exit status) is preserved.
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    if (process.listenerCount(signal) > 0) continue;
    process.once(signal, () => {
      killAllChildren();
      process.kill(process.pid, signal);
    });
  }
}

function waitForExit(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => child.once('exit', () => resolve()));
}

function tailOfLog(logFile: string, bytes = 2000): string {
  try {
    const text = fs.readFileSync(logFile, 'utf8');
    return text.slice(-bytes);
  } catch {
    return '(no log)';
  }
}

async function isHealthy(endpoint: string): Promise<boolean> {
  try {
    const res = await fetch(`${endpoint}/health`, { signal: AbortSignal.timeout(1000) });
    if (!res.ok) return false;
    const body = (await res.json()) as { health?: string };
    return body.health === 'true';
  } catch {
    return false;
  }
}

/** Membership flags for a member of a multi-member cluster (see etcd-cluster.ts). */
export interface EtcdMembership {
  /** `name1=http://127.0.0.1:p1,name2=...` */
  initialCluster: string;
  token: string;
}

/** One etcd process; exported for etcd-cluster.ts, tests use startEtcd/startEtcdCluster. */
export class EtcdInstance implements EtcdProcess {
  readonly endpoint: string;
  readonly logFile: string;
  private child: ChildProcess | undefined;
  private removed = false;

  constructor(
    readonly name: string,
    readonly clientPort: number,
    readonly peerPort: number,
    readonly dataDir: string,
    private readonly binary: string,
    private readonly extraArgs: string[],
    private readonly startTimeoutMs: number,
    private readonly membership?: EtcdMembership,
    private readonly tls?: EtcdTlsFiles & { metricsPort: number },
  ) {
    this.endpoint = `${tls ? 'https' : 'http'}://127.0.0.1:${clientPort}`;
    this.healthBase = tls ? `http://127.0.0.1:${tls.metricsPort}` : this.endpoint;
    this.logFile = path.join(dataDir, 'etcd.log');
  }

  /** Where /health is polled: the client URL, or the plain-http metrics listener under TLS. */
  private readonly healthBase: string;

  get pid(): number | undefined {
    return this.child?.pid;
  }

  private args(): string[] {
    const peer = `http://127.0.0.1:${this.peerPort}`;
    return [
      '--name', this.name,
      '--data-dir', path.join(this.dataDir, 'data'),
      '--listen-client-urls', this.endpoint,
      '--advertise-client-urls', this.endpoint,
      '--listen-peer-urls', peer,
      '--initial-advertise-peer-urls', peer,
      '--initial-cluster', this.membership?.initialCluster ?? `${this.name}=${peer}`,
      '--initial-cluster-token', this.membership?.token ?? `${this.name}-${this.clientPort}`,
      '--logger', 'zap',
      '--log-outputs', 'stderr',
      ...(this.tls ? [
        '--cert-file', this.tls.cert, '--key-file', this.tls.key, '--trusted-ca-file', this.tls.ca,
        ...(this.tls.clientCertAuth ? ['--client-cert-auth'] : []),
        '--listen-metrics-urls', this.healthBase,
      ] : []),
      ...this.extraArgs,
    ];
  }

  /** Spawn etcd and wait for /health; throws (with the log tail) if it exits or never gets healthy. */
  async start(): Promise<void> {
    if (this.removed) throw new Error(`etcd ${this.name}: stopped for good (data dir removed)`);
    installExitHook();
    const logFd = fs.openSync(this.logFile, 'a');
    let child: ChildProcess;
    try {
      child = spawn(this.binary, this.args(), { stdio: ['ignore', logFd, logFd] });
    } finally {
      fs.closeSync(logFd); // the child holds its own copy
    }
    this.child = child;
    liveChildren.add(child);
    let spawnError: Error | undefined;
    child.once('error', (err) => { spawnError = err; });
    child.once('exit', () => {
      liveChildren.delete(child);
      if (this.child === child) this.child = undefined;
    });

    const deadline = Date.now() + this.startTimeoutMs;
    while (Date.now() < deadline) {
      if (spawnError) throw new Error(`etcd ${this.name}: cannot run '${this.binary}': ${spawnError.message}`);
      if (child.exitCode !== null || child.signalCode !== null) {
        throw new Error(`etcd ${this.name} exited during start-up (code ${child.exitCode}, signal ${child.signalCode}); log tail:\n${tailOfLog(this.logFile)}`);
      }
      if (await isHealthy(this.healthBase)) return;
      await new Promise((r) => setTimeout(r, 50));
    }
    await this.kill();
    throw new Error(`etcd ${this.name} not healthy on ${this.endpoint} within ${this.startTimeoutMs} ms; log tail:\n${tailOfLog(this.logFile)}`);
  }

  private async signalAndWait(signal: NodeJS.Signals): Promise<void> {
    const child = this.child;
    if (!child) return;
    const exited = waitForExit(child);
    // A paused process only acts on SIGTERM once continued.
    if (signal !== 'SIGKILL') child.kill('SIGCONT');
    child.kill(signal);
    if (signal === 'SIGKILL') return exited;
    const timer = setTimeout(() => child.kill('SIGKILL'), STOP_GRACE_MS);
    try {
      await exited;
    } finally {
      clearTimeout(timer);
    }
  }

  async stop(): Promise<void> {
    await this.signalAndWait('SIGTERM');
    if (!this.removed) {
      this.removed = true;
      fs.rmSync(this.dataDir, { recursive: true, force: true });
    }
  }

  kill(): Promise<void> {
    return this.signalAndWait('SIGKILL');
  }

  async restart(): Promise<void> {
    await this.signalAndWait('SIGTERM');
    await this.start();
  }

  pause(): void {
    const pid = this.child?.pid;
    this.child?.kill('SIGSTOP');
    if (pid === undefined) return;
    // The signal lands asynchronously: until etcd is really stopped a call made right after
    // pause() can still be served (seen under a loaded full test run). Wait for state T.
    const deadline = Date.now() + 2000;
    const tick = new Int32Array(new SharedArrayBuffer(4));
    while (Date.now() < deadline && !isStopped(pid)) Atomics.wait(tick, 0, 0, 1);
  }

  resume(): void {
    this.child?.kill('SIGCONT');
  }
}

/** Start a single-member etcd on free loopback ports with a fresh temp data dir. */
export async function startEtcd(opts: StartEtcdOptions = {}): Promise<EtcdProcess> {
  const name = opts.name ?? 'portico-test';
  const binary = opts.binary ?? process.env.ETCD_BIN ?? 'etcd';
  // The ports are free when picked but another process may grab one before etcd binds it;
  // in that case etcd exits at once and we try again with new ports.
  let lastError: unknown;
  for (let attempt = 0; attempt < 3; attempt++) {
    const [clientPort, peerPort, metricsPort] = await freePorts(3);
    const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), `${name}-etcd-`));
    const etcd = new EtcdInstance(name, clientPort, peerPort, dataDir, binary, opts.extraArgs ?? [],
      opts.startTimeoutMs ?? DEFAULT_START_TIMEOUT_MS, undefined, opts.tls && { ...opts.tls, metricsPort });
    try {
      await etcd.start();
      return etcd;
    } catch (err) {
      lastError = err;
      await etcd.stop();
      if (!/address already in use/.test(String((err as Error).message))) break;
    }
  }
  throw lastError;
}

/** POST a JSON body to etcd's grpc-gateway (`/v3/...`), which etcd 3.4 serves on the client port. */
export async function etcdGateway(endpoint: string, route: string, body: unknown): Promise<Record<string, unknown>> {
  const res = await fetch(`${endpoint}${route}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
    signal: AbortSignal.timeout(10_000),
  });
  const json = (await res.json()) as Record<string, unknown>;
  if (!res.ok) throw new Error(`etcd ${route} failed (${res.status}): ${JSON.stringify(json)}`);
  return json;
}

/** The current revision of the etcd at `endpoint`. */
export async function etcdRevision(endpoint: string): Promise<number> {
  // Any range answers with the store revision in its header; key "\0" is as cheap as it gets.
  const res = await etcdGateway(endpoint, '/v3/kv/range', { key: Buffer.from([0]).toString('base64') });
  return Number((res.header as { revision: string }).revision);
}

/**
 * Compact etcd's history up to `revision` (default: the current revision), physically, so
 * that a watch from an older revision fails as it would in production after compaction.
 * Uses the HTTP gateway rather than the etcd3 client so testkit needs no client library.
 * Returns the revision compacted to.
 */
export async function compactEtcd(endpoint: string, revision?: number): Promise<number> {
  const rev = revision ?? (await etcdRevision(endpoint));
  await etcdGateway(endpoint, '/v3/kv/compaction', { revision: String(rev), physical: true });
  return rev;
}

/** Whether process `pid` is stopped (or gone), from /proc/<pid>/stat. */
function isStopped(pid: number): boolean {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.charAt(stat.lastIndexOf(')') + 2) === 'T';
  } catch {
    return true;
  }
}
