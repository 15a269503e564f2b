import { RemoteSecretResolver } from '@portico/secrets';
import { Gateway, type GatewayOptions } from '../../gateway';
import { setLimitBackend } from '../../plugins/limit-backend';
import { remoteLimits } from './limits';
import type { Channel, ToPrimary, ToWorker } from './protocol';
import { RemoteConfig } from './remote-config';

export type PrimaryLink = Channel<ToPrimary, ToWorker>;

export type WorkerGatewayOptions = Omit<GatewayOptions, 'store' | 'source' | 'resolver'> & {
  link: PrimaryLink;
  /** How long a question to the primary may stay unanswered (default 5000 ms). */
  requestTimeoutMs?: number;
};

type Request = ToPrimary extends infer M ? (M extends { id: number } ? Omit<M, 'id'> : never) : never;
type Reply = Extract<ToWorker, { t: 'portico:secret-reply' | 'portico:count-reply' | 'portico:req-reply' }>;

/**
 * A proxy worker's data plane (`apisix.workers` > 1): a Gateway whose configuration, secret
 * values and limit counters come from the node's primary over `link` instead of from the
 * store, the providers and local memory. It serves proxy and control traffic itself; its
 * metrics are read by the primary, which serves the node's merged metrics (`listen.metrics`
 * is forced off here).
 */
export function createWorkerGateway(opts: WorkerGatewayOptions): Gateway {
  const { link, requestTimeoutMs = 5000, ...rest } = opts;
  const pending = new Map<number, { resolve: (r: Reply) => void; reject: (e: Error) => void; timer: NodeJS.Timeout }>();
  let nextId = 1;
  /** One question to the primary; rejects when it cannot be sent or is not answered in time. */
  const ask = <R extends Reply>(msg: Request): Promise<R> => new Promise<R>((resolve, reject) => {
    const id = nextId++;
    const timer = setTimeout(() => {
      pending.delete(id);
      reject(new Error(`the primary did not answer ${msg.t} in ${requestTimeoutMs} ms`));
    }, requestTimeoutMs);
    pending.set(id, { resolve: resolve as (r: Reply) => void, reject, timer });
    try {
      link.send({ ...msg, id } as ToPrimary);
    } catch (err) {
      clearTimeout(timer);
      pending.delete(id);
      reject(err as Error);
    }
  });

  // Before the Gateway exists: its tables compile the limit plugins against this backend.
  setLimitBackend(remoteLimits({
    count: (counter, limit, windowMs, group, key, want) =>
      ask<Extract<Reply, { t: 'portico:count-reply' }>>({ t: 'portico:count', counter, limit, windowMs, group, key, want }),
    req: (counter, rate, burst, key) =>
      ask<Extract<Reply, { t: 'portico:req-reply' }>>({ t: 'portico:req', counter, rate, burst, key }).then((r) => r.delay),
  }));
  const resolver = new RemoteSecretResolver({
    resolve: (ref) => ask<Extract<Reply, { t: 'portico:secret-reply' }>>({ t: 'portico:secret-request', ref }).then((r) => r.state),
  }, { negTtlSeconds: opts.config.apisix.lru.secret.neg_ttl });

  const gateway = new Gateway({
    ...rest,
    source: new RemoteConfig(link),
    resolver,
    listen: { ...rest.listen, metrics: false },
  });

  link.onMessage((msg) => {
    switch (msg.t) {
      case 'portico:secret':
        resolver.apply(msg.ref, msg.state);
        break;
      case 'portico:secret-reply':
      case 'portico:count-reply':
      case 'portico:req-reply': {
        const p = pending.get(msg.id);
        if (!p) break;
        pending.delete(msg.id);
        clearTimeout(p.timer);
        p.resolve(msg);
        break;
      }
      case 'portico:metrics-request':
        link.send({ t: 'portico:metrics-reply', id: msg.id, text: gateway.metrics.render() });
        break;
      default:
        break;
    }
  });
  return gateway;
}
