import { RemoteSecretResolver, type EntryState } from '@portico/secrets';
import { Gateway, type GatewayOptions } from '../index';
import type { Channel, ToPrimary, ToWorker } from './protocol';
import { RemoteConfig } from './remote-config';

export type PrimaryLink = Channel<ToPrimary, ToWorker>;

export type WorkerGatewayOptions = Omit<GatewayOptions, 'store' | 'source' | 'resolver'> & { link: PrimaryLink };

/**
 * A proxy worker's data plane (`apisix.workers` > 1): a Gateway whose configuration and secret
 * values come from the node's primary over `link` instead of from the store and the
 * providers. It serves proxy and control traffic itself; its metrics are read by the primary,
 * which serves the node's merged metrics (`listen.metrics` is forced off here).
 */
export function createWorkerGateway(opts: WorkerGatewayOptions): Gateway {
  const { link, ...rest } = opts;
  const pending = new Map<number, (state: EntryState | undefined) => void>();
  let nextId = 1;
  const resolver = new RemoteSecretResolver({
    resolve(ref) {
      return new Promise((resolve, reject) => {
        const id = nextId++;
        pending.set(id, resolve);
        try {
          link.send({ t: 'portico:secret-request', id, ref });
        } catch (err) {
          pending.delete(id);
          reject(err);
        }
      });
    },
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
      case 'portico:secret-reply': {
        const done = pending.get(msg.id);
        pending.delete(msg.id);
        done?.(msg.state);
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
