import { ChildProcess, spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { freePorts } from './free-port';
import { waitFor } from './wait-for';

/**
 * Runs the built `portico` CLI (packages/cli/dist/main.js) as a separate OS process with a
 * generated config.yaml on free loopback ports — what end-to-end tests and `make cluster` use.
 * `make test` builds before jest runs, so the dist file exists.
 */

/** The keyring every test cluster shares; a test value, not a secret. */
export const TEST_KEYRING = 'portico-test-keyring-0123456789';

export const CLI_MAIN = path.resolve(__dirname, '../../cli/dist/main.js');

export interface PorticoProcessOptions {
  name: string;
  role: 'traditional' | 'control_plane' | 'data_plane';
  /** etcd endpoints; omitted = embedded store in `dataDir`. */
  etcd?: string[];
  etcdPrefix?: string;
  /** Kept across restart(); default a fresh temp dir. */
  dataDir?: string;
  secretTtl?: number;
  secretNegTtl?: number;
  etcdTimeout?: number;
  env?: NodeJS.ProcessEnv;
  /** Deep-merged into the generated config last. */
  extraConfig?: Record<string, unknown>;
  /** Flags for node itself, before the script (`--cpu-prof`, `--trace-gc`: not allowed in NODE_OPTIONS). */
  nodeArgs?: string[];
}

export interface PorticoProcess {
  readonly name: string;
  readonly proxyUrl: string;
  readonly adminUrl: string;
  readonly controlUrl: string;
  readonly metricsUrl: string;
  readonly dataDir: string;
  readonly logFile: string;
  readonly pid: number | undefined;
  /** Graceful stop (SIGTERM), resolves with the exit code. */
  stop(): Promise<number | null>;
  /** SIGKILL. */
  kill(): Promise<void>;
  /** Start again with the same ports and data dir; waits until ready. */
  restart(): Promise<void>;
  /** The process's stdout+stderr so far. */
  log(): string;
}

const live = new Set<ChildProcess>();
let hook = false;
function installExitHook(): void {
  if (hook) return;
  hook = true;
  process.on('exit', () => {
    for (const c of live) c.kill('SIGKILL');
  });
}

function merge(a: unknown, b: unknown): unknown {
  if (typeof a !== 'object' || a === null || Array.isArray(a) || typeof b !== 'object' || b === null || Array.isArray(b)) return b;
  const out: Record<string, unknown> = { ...a };
  for (const [k, v] of Object.entries(b)) out[k] = k in out ? merge(out[k], v) : v;
  return out;
}

export async function startPortico(opts: PorticoProcessOptions): Promise<PorticoProcess> {
  installExitHook();
  if (!fs.existsSync(CLI_MAIN)) throw new Error(`${CLI_MAIN} is missing: run \`npx tsc -b\` (make test does) first`);
  const dataDir = opts.dataDir ?? fs.mkdtempSync(path.join(os.tmpdir(), `portico-${opts.name}-`));
  fs.mkdirSync(dataDir, { recursive: true });
  const [proxyPort, adminPort, controlPort, metricsPort] = await freePorts(4);
  let config: Record<string, unknown> = {
    apisix: {
      node_listen: [{ ip: '127.0.0.1', port: proxyPort }],
      lru: { secret: { ttl: opts.secretTtl ?? 300, neg_ttl: opts.secretNegTtl ?? 60 } },
      // Every node of an etcd cluster must share one keyring (SPEC §5.6); embedded generates its own.
      ...(opts.etcd ? { data_encryption: { keyring: [TEST_KEYRING] } } : {}),
    },
    deployment: {
      role: opts.role,
      config_provider: opts.etcd ? 'etcd' : 'embedded',
      embedded: { data_dir: path.join(dataDir, 'data') },
      admin: { admin_listen: { ip: '127.0.0.1', port: adminPort }, admin_key_required: false },
      ...(opts.etcd ? { etcd: { host: opts.etcd, prefix: opts.etcdPrefix ?? '/apisix', timeout: opts.etcdTimeout ?? 5 } } : {}),
    },
    control: { ip: '127.0.0.1', port: controlPort },
    metrics: { ip: '127.0.0.1', port: metricsPort },
  };
  if (opts.extraConfig) config = merge(config, opts.extraConfig) as Record<string, unknown>;
  const configFile = path.join(dataDir, 'config.yaml');
  // JSON is YAML: no serializer needed.
  fs.writeFileSync(configFile, JSON.stringify(config, null, 2));
  const logFile = path.join(dataDir, 'portico.log');

  let child: ChildProcess | undefined;
  let exited: Promise<number | null> = Promise.resolve(null);

  const spawnChild = async () => {
    const out = fs.openSync(logFile, 'a');
    child = spawn(process.execPath, [...(opts.nodeArgs ?? []), CLI_MAIN, 'start', '-c', configFile], {
      cwd: dataDir,
      env: { ...process.env, AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true', PORTICO_LOG_LEVEL: 'info', ...opts.env },
      stdio: ['ignore', out, out],
    });
    fs.closeSync(out);
    const c = child;
    live.add(c);
    exited = new Promise((resolve) => c.once('exit', (code) => {
      live.delete(c);
      resolve(code);
    }));
    let dead = false;
    void exited.then(() => { dead = true; });
    // Ready = the role's listeners answer: the control API reports ready for a data plane,
    // the admin API answers for a control plane. A process that exits first fails at once.
    const url = opts.role === 'control_plane'
      ? `http://127.0.0.1:${adminPort}/apisix/admin/routes`
      : `http://127.0.0.1:${controlPort}/status/ready`;
    const ready = waitFor(async () => dead || (await fetch(url).catch(() => undefined))?.status === 200,
      { timeoutMs: 30_000, what: `portico ${opts.name} to become ready` });
    try {
      await ready;
    } catch (err) {
      if (!dead) c.kill('SIGKILL');
      throw err;
    }
    if (dead) throw new Error(`portico ${opts.name} exited during start-up:\n${fs.readFileSync(logFile, 'utf8').slice(-4000)}`);
  };
  await spawnChild();

  const handle: PorticoProcess = {
    name: opts.name,
    proxyUrl: `http://127.0.0.1:${proxyPort}`,
    adminUrl: `http://127.0.0.1:${adminPort}`,
    controlUrl: `http://127.0.0.1:${controlPort}`,
    metricsUrl: `http://127.0.0.1:${metricsPort}/metrics`,
    dataDir,
    logFile,
    get pid() { return child?.exitCode === null ? child.pid : undefined; },
    async stop() {
      if (!child || child.exitCode !== null || child.signalCode !== null) return child?.exitCode ?? null;
      child.kill('SIGTERM');
      const timer = setTimeout(() => child?.kill('SIGKILL'), 15_000);
      const code = await exited;
      clearTimeout(timer);
      return code;
    },
    async kill() {
      if (child && child.exitCode === null && child.signalCode === null) {
        child.kill('SIGKILL');
        await exited;
      }
    },
    async restart() {
      await handle.stop();
      await spawnChild();
    },
    log: () => fs.readFileSync(logFile, 'utf8'),
  };
  return handle;
}
