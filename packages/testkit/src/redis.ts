import { ChildProcess, execFile, spawn } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { freePorts } from './free-port';

/**
 * Throwaway Redis servers for tests: Debian's `redis-server` (installed by
 * `scripts/install-deps.sh --test`) on free loopback ports, each in its own temp directory,
 * with no persistence (no RDB, no AOF), so a kill() and restart() comes back empty — as a
 * Redis that lost its memory does. Every process started here is SIGKILLed when the test
 * process exits, so a test that forgets stop() leaves nothing behind.
 */

export interface StartRedisOptions {
  /** Part of the temp dir name. Default `portico-redis`. */
  name?: string;
  /** `requirepass`: clients must AUTH with it (as the `default` user). */
  password?: string;
  /** Extra `--directive value` arguments for redis-server. */
  extraArgs?: string[];
  /** How long to wait for PING to answer. Default 10 s. */
  startTimeoutMs?: number;
  /** Default $REDIS_SERVER_BIN or `redis-server` on PATH. */
  binary?: string;
}

export interface RedisProcess {
  readonly host: string;
  readonly port: number;
  readonly dir: string;
  readonly logFile: string;
  /** pid of the running server, undefined while it is down. */
  readonly pid: number | undefined;
  /** One command over a fresh connection (AUTH first when the server has a password). */
  command(...args: Array<string | number>): Promise<RespValue>;
  /** SIGTERM, wait, remove the temp dir. Idempotent. */
  stop(): Promise<void>;
  /** SIGKILL (a crash); restart() brings it back, empty, on the same port. */
  kill(): Promise<void>;
  /** Start again on the same port (stopping first if running); waits until it answers. */
  restart(): Promise<void>;
  /** SIGSTOP: the port stays open, nothing answers (a hung server). */
  pause(): void;
  resume(): void;
}

export interface RedisCluster {
  readonly nodes: RedisProcess[];
  /** `host:port` of every master, as `redis_cluster_nodes` takes them. */
  readonly addresses: string[];
  /** CLUSTER INFO's cluster_state is ok on every node. */
  ready(): Promise<boolean>;
  stop(): Promise<void>;
}

export type RespValue = string | number | null | RespValue[] | Error;

const live = new Set<ChildProcess>();
let hooked = false;
function installExitHook(): void {
  if (hooked) return;
  hooked = true;
  process.once('exit', () => {
    for (const c of live) {
      try {
        if (c.pid) process.kill(c.pid, 'SIGKILL');
      } catch {
        // already gone
      }
    }
  });
}

/** Encodes a command as a RESP array of bulk strings. */
function encode(args: Array<string | number>): string {
  let out = `*${args.length}\r\n`;
  for (const a of args) {
    const s = String(a);
    out += `$${Buffer.byteLength(s)}\r\n${s}\r\n`;
  }
  return out;
}

/** Parses one RESP value at `pos`; undefined when the buffer holds only part of it. */
function parse(buf: Buffer, pos: number): { value: RespValue; next: number } | undefined {
  const eol = buf.indexOf('\r\n', pos);
  if (eol < 0) return undefined;
  const line = buf.toString('utf8', pos + 1, eol);
  switch (buf[pos]) {
    case 0x2b /* + */: return { value: line, next: eol + 2 };
    case 0x2d /* - */: return { value: new Error(line), next: eol + 2 };
    case 0x3a /* : */: return { value: Number(line), next: eol + 2 };
    case 0x24 /* $ */: {
      const len = Number(line);
      if (len < 0) return { value: null, next: eol + 2 };
      if (buf.length < eol + 2 + len + 2) return undefined;
      return { value: buf.toString('utf8', eol + 2, eol + 2 + len), next: eol + 2 + len + 2 };
    }
    case 0x2a /* * */: {
      const n = Number(line);
      if (n < 0) return { value: null, next: eol + 2 };
      const items: RespValue[] = [];
      let next = eol + 2;
      for (let i = 0; i < n; i++) {
        const item = parse(buf, next);
        if (!item) return undefined;
        items.push(item.value);
        next = item.next;
      }
      return { value: items, next };
    }
    default: throw new Error(`unexpected RESP byte ${buf[pos]}`);
  }
}

/**
 * Sends commands over one fresh loopback connection and returns their replies in order: the
 * testkit's own few-line client, so it needs no Redis library (and tests check the gateway's
 * client against something independent of it).
 */
export function redisCommands(port: number, commands: Array<Array<string | number>>, timeoutMs = 3000, host = '127.0.0.1'): Promise<RespValue[]> {
  return new Promise((resolve, reject) => {
    const sock = net.connect(port, host);
    let buf = Buffer.alloc(0);
    const replies: RespValue[] = [];
    const timer = setTimeout(() => {
      sock.destroy();
      reject(new Error(`redis on ${host}:${port} did not answer within ${timeoutMs} ms`));
    }, timeoutMs);
    sock.on('connect', () => sock.write(commands.map(encode).join('')));
    sock.on('data', (chunk) => {
      buf = Buffer.concat([buf, chunk]);
      let pos = 0;
      for (;;) {
        const r = pos < buf.length ? parse(buf, pos) : undefined;
        if (!r) break;
        replies.push(r.value);
        pos = r.next;
      }
      buf = buf.subarray(pos);
      if (replies.length === commands.length) {
        clearTimeout(timer);
        sock.end();
        resolve(replies);
      }
    });
    sock.on('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    sock.on('close', () => {
      clearTimeout(timer);
      if (replies.length < commands.length) reject(new Error(`redis on ${host}:${port} closed the connection`));
    });
  });
}

function tail(file: string, bytes = 2000): string {
  try {
    return fs.readFileSync(file, 'utf8').slice(-bytes);
  } catch {
    return '(no log)';
  }
}

class RedisInstance implements RedisProcess {
  readonly host = '127.0.0.1';
  readonly logFile: string;
  private child?: ChildProcess;
  private removed = false;

  constructor(
    readonly port: number,
    readonly dir: string,
    private readonly binary: string,
    private readonly args: string[],
    private readonly password: string | undefined,
    private readonly startTimeoutMs: number,
  ) {
    this.logFile = path.join(dir, 'redis.log');
  }

  get pid(): number | undefined {
    return this.child?.pid;
  }

  async command(...args: Array<string | number>): Promise<RespValue> {
    const cmds = this.password !== undefined ? [['AUTH', this.password], args] : [args];
    const replies = await redisCommands(this.port, cmds);
    return replies[replies.length - 1];
  }

  async start(): Promise<void> {
    if (this.removed) throw new Error(`redis on ${this.port}: stopped for good`);
    installExitHook();
    const child = spawn(this.binary, [
      '--port', String(this.port), '--bind', '127.0.0.1', '--protected-mode', 'no',
      '--daemonize', 'no', '--dir', this.dir, '--logfile', this.logFile,
      // no persistence: a restarted server is empty
      '--save', '', '--appendonly', 'no',
      ...(this.password !== undefined ? ['--requirepass', this.password] : []),
      ...this.args,
    ], { stdio: 'ignore' });
    this.child = child;
    live.add(child);
    let spawnError: Error | undefined;
    child.once('error', (err) => { spawnError = err; });
    child.once('exit', () => {
      live.delete(child);
      if (this.child === child) this.child = undefined;
    });
    const deadline = Date.now() + this.startTimeoutMs;
    while (Date.now() < deadline) {
      if (spawnError) throw new Error(`cannot run '${this.binary}': ${spawnError.message} (scripts/install-deps.sh --test installs it)`);
      if (child.exitCode !== null || child.signalCode !== null) {
        throw new Error(`redis-server on ${this.port} exited during start-up; log tail:\n${tail(this.logFile)}`);
      }
      if ((await this.command('PING').catch(() => undefined)) === 'PONG') return;
      await new Promise((r) => setTimeout(r, 20));
    }
    await this.kill();
    throw new Error(`redis-server on ${this.port} did not answer within ${this.startTimeoutMs} ms; log tail:\n${tail(this.logFile)}`);
  }

  private async signal(sig: NodeJS.Signals): Promise<void> {
    const child = this.child;
    if (!child) return;
    const exited = new Promise<void>((resolve) => {
      if (child.exitCode !== null || child.signalCode !== null) resolve();
      else child.once('exit', () => resolve());
    });
    if (sig !== 'SIGKILL') child.kill('SIGCONT');
    child.kill(sig);
    const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
    await exited;
    clearTimeout(timer);
  }

  async stop(): Promise<void> {
    await this.signal('SIGTERM');
    if (!this.removed) {
      this.removed = true;
      fs.rmSync(this.dir, { recursive: true, force: true });
    }
  }

  kill(): Promise<void> {
    return this.signal('SIGKILL');
  }

  async restart(): Promise<void> {
    await this.signal('SIGTERM');
    await this.start();
  }

  pause(): void {
    this.child?.kill('SIGSTOP');
  }

  resume(): void {
    this.child?.kill('SIGCONT');
  }
}

async function startInstance(name: string, opts: StartRedisOptions, args: (port: number, busPort: number) => string[]): Promise<RedisInstance> {
  const binary = opts.binary ?? process.env.REDIS_SERVER_BIN ?? 'redis-server';
  let lastError: unknown;
  // A port free when picked may be taken before redis binds it: then try new ones.
  for (let attempt = 0; attempt < 3; attempt++) {
    const [port, busPort] = await freePorts(2);
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), `${name}-`));
    const r = new RedisInstance(port, dir, binary, [...args(port, busPort), ...(opts.extraArgs ?? [])], opts.password, opts.startTimeoutMs ?? 10_000);
    try {
      await r.start();
      return r;
    } catch (err) {
      lastError = err;
      await r.stop();
      if (!/in use|bind/i.test(String((err as Error).message))) break;
    }
  }
  throw lastError;
}

/** A single Redis on a free loopback port. */
export function startRedis(opts: StartRedisOptions = {}): Promise<RedisProcess> {
  return startInstance(opts.name ?? 'portico-redis', opts, () => []);
}

function runRedisCli(args: string[], timeoutMs: number): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(process.env.REDIS_CLI_BIN ?? 'redis-cli', args, { timeout: timeoutMs }, (err, stdout, stderr) => {
      if (err) reject(new Error(`redis-cli ${args.join(' ')} failed: ${err.message}\n${stdout}\n${stderr}`));
      else resolve(stdout);
    });
  });
}

/**
 * A Redis Cluster of `masters` (default 3) cluster-enabled instances with no replicas, on free
 * loopback ports (client and bus port each), announcing 127.0.0.1, joined with
 * `redis-cli --cluster create --cluster-yes`. Resolves once every node reports cluster_state ok.
 */
export async function startRedisCluster(opts: StartRedisOptions & { masters?: number } = {}): Promise<RedisCluster> {
  const name = opts.name ?? 'portico-redis-cluster';
  const settled = await Promise.allSettled(Array.from({ length: opts.masters ?? 3 }, () =>
    startInstance(name, opts, (port, busPort) => [
      '--cluster-enabled', 'yes', '--cluster-config-file', 'nodes.conf', '--cluster-node-timeout', '2000',
      '--cluster-announce-ip', '127.0.0.1', '--cluster-port', String(busPort),
      ...(opts.password !== undefined ? ['--masterauth', opts.password] : []),
    ])));
  const nodes = settled.flatMap((s) => (s.status === 'fulfilled' ? [s.value] : []));
  const stopAll = () => Promise.all(nodes.map((n) => n.stop())).then(() => undefined);
  const failed = settled.find((s): s is PromiseRejectedResult => s.status === 'rejected');
  if (failed) {
    await stopAll();
    throw failed.reason;
  }
  const addresses = nodes.map((n) => `127.0.0.1:${n.port}`);
  const ready = async () => {
    const infos = await Promise.all(nodes.map((n) => n.command('CLUSTER', 'INFO').catch(() => '')));
    return infos.every((i) => typeof i === 'string' && i.includes('cluster_state:ok'));
  };
  try {
    await runRedisCli(['--cluster', 'create', ...addresses, '--cluster-yes', ...(opts.password !== undefined ? ['-a', opts.password, '--no-auth-warning'] : [])], 30_000);
    const deadline = Date.now() + 20_000;
    while (!(await ready())) {
      if (Date.now() > deadline) throw new Error(`redis cluster ${addresses.join(',')} not ok within 20 s`);
      await new Promise((r) => setTimeout(r, 50));
    }
  } catch (err) {
    await stopAll();
    throw err;
  }
  return { nodes, addresses, ready, stop: stopAll };
}
