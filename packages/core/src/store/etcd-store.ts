import { ConsecutiveBreaker, circuitBreaker, handleWhen } from 'cockatiel';
import fs from 'node:fs';
import type { Etcd3, IKeyValue, IOptions, IRequestOp, IWatchResponse, KVClient, Lease as EtcdLease, Watcher } from 'etcd3';

type Etcd3Module = typeof import('etcd3');
let etcd3Module: Etcd3Module | undefined;
/**
 * etcd3 brings gRPC and protobuf (about 23 MB resident): it is loaded when the first EtcdStore
 * is made, so a node on the embedded store never pays for it.
 */
function etcd3(): Etcd3Module {
  // eslint-disable-next-line @typescript-eslint/no-require-imports -- loaded on first use (above)
  return (etcd3Module ??= require('etcd3') as Etcd3Module);
}
import { CompareFailedError, ConfigError, StoreUnavailableError } from '../errors';
import { componentLogger } from '../logger';
import type {
  ConfigStore,
  DeleteOptions,
  DeleteResult,
  KeyValue,
  Lease,
  PutOptions,
  PutResult,
  RangeResult,
  WatchCallbacks,
  WatchEvent,
  WatchHandle,
} from './types';

const log = componentLogger('etcd-store');

/** gRPC call options (deadline, ...), named via etcd3 so core needs no direct grpc-js dependency. */
type CallOptions = NonNullable<Parameters<KVClient['range']>[1]>;

export interface EtcdStoreOptions {
  /** Client URLs, e.g. `http://127.0.0.1:2379`; all http or all https. */
  hosts: string[];
  /** Deadline for every call (and for establishing a watch), in seconds. */
  timeoutSeconds: number;
  user?: string;
  password?: string;
  /** Used only with https hosts. Same shape as config.yaml's deployment.etcd.tls. */
  tls?: EtcdTlsOptions;
}

export interface EtcdTlsOptions {
  /** Client certificate (PEM file path) for mutual TLS; needs `key`. */
  cert?: string | null;
  key?: string | null;
  /** CA bundle (PEM file path) that signed etcd's certificate; default: the system roots. */
  ca?: string | null;
  /** `false` is refused: the etcd client library cannot skip certificate verification. */
  verify?: boolean;
}

/** Upper bound on cleanup steps in close(), so shutting down never waits a full call timeout. */
const CLOSE_STEP_MS = 2000;

/**
 * ConfigStore over an etcd v3 cluster via the `etcd3` client.
 *
 * Traps in etcd3 (1.1.2) this class works around:
 * - Unary calls have no deadline unless given one, and the client retries recoverable errors;
 *   every store call gets one absolute deadline shared by all its retries, plus a timer so
 *   the promise settles even if some path inside the client ignores the deadline.
 * - Streams (watch, lease keep-alive) must NOT get a deadline: it would kill them.
 * - A compacted or server-cancelled watch surfaces only as an `error` event on the Watcher,
 *   and a lost stream as `disconnected` followed by a silent resubscribe. We turn both into
 *   onReset and drop the watcher: the caller re-ranges, which also covers a store that came
 *   back with different data.
 * - `close()` on the client leaves the watch manager reconnecting forever while a watcher
 *   is still attached, so close() cancels watchers (and revokes leases) first.
 */
export class EtcdStore implements ConfigStore {
  readonly kind = 'etcd' as const;
  private readonly client: Etcd3;
  private readonly timeoutMs: number;
  private readonly hostsLabel: string;
  private readonly watches = new Set<EtcdWatch>();
  private readonly leases = new Set<EtcdLease>();
  private closing: Promise<void> | undefined;

  constructor(opts: EtcdStoreOptions) {
    if (opts.hosts.length === 0) throw new Error('EtcdStore: at least one host is required');
    this.timeoutMs = opts.timeoutSeconds * 1000;
    this.hostsLabel = opts.hosts.join(',');
    const timeoutMs = this.timeoutMs;
    const options: IOptions = {
      hosts: opts.hosts,
      // A default deadline for unary calls the store does not issue itself (auth token
      // exchange, lease grant inside etcd3). Streams get none.
      defaultCallOptions: (ctx): CallOptions => (ctx.isStream ? {} : { deadline: Date.now() + timeoutMs }),
      faultHandling: {
        // etcd3's default breaker skips a host for 5 s after 3 failures, which delays recovery
        // after an outage by that much; 1 s keeps failover across hosts and recovers quickly.
        host: () => circuitBreaker(handleWhen(etcd3().isRecoverableError), { halfOpenAfter: 1_000, breaker: new ConsecutiveBreaker(3) }),
      },
      grpcOptions: {
        // grpc-js refuses replies over 4 MiB by default; a range over a large config is bigger.
        'grpc.max_receive_message_length': -1,
        // Detect a silently dead connection (host gone, no RST) under an idle watch stream.
        // etcd's default enforcement allows pings every 5 s.
        'grpc.keepalive_time_ms': 10_000,
        'grpc.keepalive_timeout_ms': 5_000,
        'grpc.keepalive_permit_without_calls': 1,
      },
    };
    if (opts.user) options.auth = { username: opts.user, password: opts.password ?? '' };
    if (opts.tls && opts.hosts.some((h) => h.startsWith('https:'))) options.credentials = tlsCredentials(opts.tls);
    this.client = new (etcd3().Etcd3)(options);
  }

  async range(prefix: string): Promise<RangeResult> {
    // etcd returns a range sorted by key (byte order) when no sort is requested.
    const res = await this.call(`range ${prefix}`, (o) => this.client.kv.range(prefixRange(prefix), o));
    return { revision: Number(res.header.revision), items: res.kvs.map(toKeyValue) };
  }

  async get(key: string): Promise<KeyValue | undefined> {
    const res = await this.call(`get ${key}`, (o) => this.client.kv.range({ key: Buffer.from(key) }, o));
    return res.kvs.length > 0 ? toKeyValue(res.kvs[0]) : undefined;
  }

  async put(key: string, value: string, opts: PutOptions = {}): Promise<PutResult> {
    const request = {
      key: Buffer.from(key),
      value: Buffer.from(value),
      lease: opts.leaseId ?? 0,
      prev_kv: true,
    };
    if (opts.ifModRevision === undefined) {
      const res = await this.call(`put ${key}`, (o) => this.client.kv.put(request, o));
      return { revision: Number(res.header.revision), prev: res.prev_kv ? toKeyValue(res.prev_kv) : undefined };
    }
    const res = await this.txn(`put ${key}`, key, opts.ifModRevision, [{ request_put: request }]);
    const prev = res.responses[0].response_put.prev_kv;
    return { revision: Number(res.header.revision), prev: prev ? toKeyValue(prev) : undefined };
  }

  async delete(key: string, opts: DeleteOptions = {}): Promise<DeleteResult> {
    const ops: IRequestOp[] = [{ request_delete_range: { key: Buffer.from(key) } }];
    // `key + '/'` as a prefix: children only, never a sibling such as `/consumers/johnny`.
    if (opts.withChildren) ops.push({ request_delete_range: prefixRange(`${key}/`) });
    if (opts.ifModRevision === undefined && ops.length === 1) {
      const res = await this.call(`delete ${key}`, (o) => this.client.kv.deleteRange(ops[0].request_delete_range!, o));
      return { revision: Number(res.header.revision), deleted: Number(res.deleted) };
    }
    // One transaction: the key and its children go together, at one revision.
    const res = await this.txn(`delete ${key}`, key, opts.ifModRevision, ops);
    const deleted = res.responses.reduce((n, r) => n + Number(r.response_delete_range.deleted), 0);
    return { revision: Number(res.header.revision), deleted };
  }

  async watch(prefix: string, fromRevision: number, callbacks: WatchCallbacks): Promise<WatchHandle> {
    this.assertOpen();
    const { key, range_end } = prefixRange(prefix);
    // `.watcher()` rather than `.create()`: it hands us the Watcher before anything can be
    // emitted, so no `error` event (an immediate compaction cancel) can go unheard.
    const watcher = this.client.watch().inRange(new (etcd3().Range)(key, range_end))
      .startRevision(String(fromRevision)).watcher();
    const watch = new EtcdWatch(watcher, prefix, callbacks, () => this.watches.delete(watch));
    this.watches.add(watch);
    try {
      await watch.established(this.timeoutMs);
    } catch (err) {
      this.watches.delete(watch);
      throw err;
    }
    return { cancel: () => watch.cancel(this.timeoutMs) };
  }

  async grantLease(ttlSeconds: number): Promise<Lease> {
    this.assertOpen();
    const lease = this.client.lease(ttlSeconds);
    // Without a listener, a lost lease would go unnoticed; the holder finds out on its next put.
    lease.on('lost', (err) => log.warn({ err: err.message }, 'etcd lease lost'));
    let id: string;
    try {
      id = await this.call('grant lease', () => lease.grant());
    } catch (err) {
      lease.release();
      throw err;
    }
    this.leases.add(lease);
    return {
      id,
      revoke: async () => {
        // After close() the lease is already revoked (or left to expire): nothing to do.
        if (this.closing || !this.leases.has(lease)) return;
        await this.call(`revoke lease ${id}`, (o) => lease.revoke(o));
        // Only now: if revoking failed, close() tries again.
        this.leases.delete(lease);
      },
    };
  }

  close(): Promise<void> {
    this.closing ??= (async () => {
      await Promise.allSettled([...this.watches].map((w) => w.cancel(CLOSE_STEP_MS)));
      // Revoking deletes leased keys (heartbeats) now rather than at TTL expiry; best effort.
      await Promise.allSettled([...this.leases].map((l) =>
        withTimer(l.revoke({ deadline: Date.now() + CLOSE_STEP_MS }), CLOSE_STEP_MS, 'revoke')));
      this.leases.clear();
      this.client.close();
    })();
    return this.closing;
  }

  /** A transaction guarded by an optional compare on `key`'s mod revision. */
  private async txn(what: string, key: string, ifModRevision: number | undefined, success: IRequestOp[]) {
    const compare = ifModRevision === undefined ? [] : [
      // A missing key has create revision 0, so "== 0" means "does not exist".
      ifModRevision === 0
        ? { key: Buffer.from(key), target: 'Create' as const, result: 'Equal' as const, create_revision: 0 }
        : { key: Buffer.from(key), target: 'Mod' as const, result: 'Equal' as const, mod_revision: ifModRevision },
    ];
    const res = await this.call(what, (o) => this.client.kv.txn({ compare, success, failure: [] }, o));
    if (!res.succeeded) throw new CompareFailedError(key);
    return res;
  }

  /**
   * Run one etcd call with a deadline shared by etcd3's internal retries, mapping
   * connectivity failures to StoreUnavailableError.
   */
  private async call<T>(what: string, fn: (opts: CallOptions) => Promise<T>): Promise<T> {
    this.assertOpen();
    try {
      return await withTimer(fn({ deadline: Date.now() + this.timeoutMs }), this.timeoutMs + 1000, what);
    } catch (err) {
      if (err instanceof StoreUnavailableError) throw err;
      if (isUnavailable(err)) {
        throw new StoreUnavailableError(`etcd unavailable (${this.hostsLabel}): ${what}: ${(err as Error).message}`, { cause: err });
      }
      throw err;
    }
  }

  private assertOpen(): void {
    if (this.closing) throw new StoreUnavailableError('etcd store is closed');
  }
}

/** One store-level watch over one etcd3 Watcher; see the class comment for the reset policy. */
class EtcdWatch {
  private state: 'connecting' | 'live' | 'dead' = 'connecting';
  private settle: ((err?: Error) => void) | undefined;
  /** etcd3 already dropped the watcher (server-side cancel): cancelling it again would hang. */
  private detached = false;

  constructor(
    private readonly watcher: Watcher,
    private readonly prefix: string,
    private readonly callbacks: WatchCallbacks,
    private readonly onDead: () => void,
  ) {
    watcher.on('connected', () => {
      if (this.state !== 'connecting') return;
      this.state = 'live';
      this.settle?.();
    });
    watcher.on('data', (res: IWatchResponse) => this.onData(res));
    // The server cancelled the watch (compacted start revision, or otherwise). etcd3 has
    // already detached the watcher; cancelling it again would wait for a reply that never comes.
    watcher.on('error', (err: Error) => {
      this.detached = true;
      const reason = new Error(`etcd watch on '${prefix}' cancelled by the server (history compacted?): ${err.message}`, { cause: err });
      if (this.state === 'connecting') {
        // The interface promises onReset (asynchronously) rather than a failed watch().
        this.state = 'live';
        this.settle?.();
        setImmediate(() => this.reset(reason));
      } else {
        this.reset(reason);
      }
    });
    // The shared stream broke. etcd3 would resubscribe silently; we drop the watcher instead.
    watcher.on('disconnected', (err: Error) => {
      void watcher.cancel(); // not connected now, so this only unregisters it
      const reason = new StoreUnavailableError(`etcd watch on '${prefix}' lost its stream: ${err.message}`, { cause: err });
      if (this.state === 'connecting') {
        this.state = 'dead';
        this.onDead();
        this.settle?.(reason);
      } else {
        this.reset(reason);
      }
    });
  }

  /** Resolves once etcd confirmed the watch; rejects with StoreUnavailableError otherwise. */
  established(timeoutMs: number): Promise<void> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        if (this.state !== 'connecting') return;
        this.settle?.(new StoreUnavailableError(`etcd unavailable: watch on '${this.prefix}' not established within ${timeoutMs} ms`));
        void this.cancel(timeoutMs);
      }, timeoutMs);
      this.settle = (err) => {
        clearTimeout(timer);
        this.settle = undefined;
        if (err) reject(err);
        else resolve();
      };
    });
  }

  async cancel(timeoutMs: number): Promise<void> {
    if (this.state === 'dead') return;
    this.state = 'dead';
    this.onDead();
    // Cancelled (e.g. by close()) while still being established: fail the pending watch().
    this.settle?.(new StoreUnavailableError(`etcd watch on '${this.prefix}' cancelled before it was established`));
    if (this.detached) return;
    // Waits for etcd to confirm; bounded so a hung server cannot hang the caller.
    await withTimer(this.watcher.cancel(), timeoutMs, 'cancel watch').catch(() => undefined);
  }

  private onData(res: IWatchResponse): void {
    // Empty responses are progress notifications: nothing to apply.
    if (this.state !== 'live' || res.events.length === 0) return;
    const events: WatchEvent[] = res.events.map((ev) =>
      ev.type === 'Put'
        ? { type: 'put', kv: toKeyValue(ev.kv) }
        : { type: 'delete', key: ev.kv.key.toString(), modRevision: Number(ev.kv.mod_revision) });
    // The batch revision is the last event's revision, not the response header's: while a
    // watcher catches up, etcd stamps each chunk with the current store revision even
    // though more chunks (older revisions) follow, which would over-claim progress.
    const revision = Number(res.events[res.events.length - 1].kv.mod_revision);
    try {
      this.callbacks.onEvents(events, revision);
    } catch (err) {
      // Never let a consumer's exception escape into etcd3's stream handler.
      log.error({ err: (err as Error).message, prefix: this.prefix }, 'watch onEvents callback threw');
    }
  }

  private reset(reason: Error): void {
    if (this.state === 'dead') return;
    this.state = 'dead';
    this.onDead();
    log.info({ prefix: this.prefix, reason: reason.message }, 'etcd watch reset');
    try {
      this.callbacks.onReset(reason);
    } catch (err) {
      log.error({ err: (err as Error).message, prefix: this.prefix }, 'watch onReset callback threw');
    }
  }
}

/** Read the PEM files named in the TLS options; errors name the config.yaml setting. */
function tlsCredentials(tls: EtcdTlsOptions): NonNullable<IOptions['credentials']> {
  if (tls.verify === false) {
    throw new ConfigError('deployment.etcd.tls.verify: false is not supported (the etcd client always verifies the server certificate); trust its CA instead');
  }
  if (!tls.cert !== !tls.key) {
    throw new ConfigError('deployment.etcd.tls: cert and key must be set together');
  }
  const read = (setting: string, file: string): Buffer => {
    try {
      return fs.readFileSync(file);
    } catch (err) {
      throw new ConfigError(`deployment.etcd.tls.${setting}: cannot read ${file}: ${(err as Error).message}`);
    }
  };
  return {
    // grpc-js uses the system roots when this is null.
    rootCertificate: tls.ca ? read('ca', tls.ca) : (null as unknown as Buffer),
    privateKey: tls.key ? read('key', tls.key) : undefined,
    certChain: tls.cert ? read('cert', tls.cert) : undefined,
  };
}

/** `[key, range_end)` for every key starting with `prefix` ('' means all keys). */
function prefixRange(prefix: string): { key: Buffer; range_end: Buffer } {
  if (prefix === '') return { key: Buffer.from([0]), range_end: Buffer.from([0]) };
  const key = Buffer.from(prefix);
  // The smallest key greater than every key with this prefix: bump the last byte that can be
  // bumped and cut off the rest. A prefix of only 0xff bytes runs to the end ("\0").
  for (let i = key.length - 1; i >= 0; i--) {
    if (key[i] < 0xff) {
      const end = Buffer.from(key.subarray(0, i + 1));
      end[i]++;
      return { key, range_end: end };
    }
  }
  return { key, range_end: Buffer.from([0]) };
}

function toKeyValue(kv: IKeyValue): KeyValue {
  return {
    key: kv.key.toString(),
    value: kv.value.toString(),
    createRevision: Number(kv.create_revision),
    modRevision: Number(kv.mod_revision),
  };
}

/** Errors meaning "could not talk to etcd" (as opposed to a rejected request). */
function isUnavailable(err: unknown): boolean {
  if (!(err instanceof Error)) return false;
  // cockatiel's open circuit breaker (a host that failed repeatedly is skipped for a while).
  if ((err as { isBrokenCircuitError?: boolean }).isBrokenCircuitError === true) return true;
  const e = etcd3Module;
  if (!e) return false; // no etcd3 error can exist before etcd3 is loaded
  return (
    err instanceof e.GRPCUnavailableError ||
    err instanceof e.GRPCDeadlineExceededError ||
    err instanceof e.ClientClosedError ||
    // Credentials problems make the store unusable just the same; surfaced as 503 + message.
    err instanceof e.GRPCUnauthenticatedError ||
    err instanceof e.EtcdAuthenticationFailedError ||
    err instanceof e.EtcdInvalidAuthTokenError ||
    err instanceof e.EtcdPermissionDeniedError ||
    e.isRecoverableError(err)
  );
}

/** Settle with `promise`, or reject with StoreUnavailableError after `ms`. */
function withTimer<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new StoreUnavailableError(`etcd unavailable: ${what} timed out after ${ms} ms`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}
