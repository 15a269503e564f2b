import { SecretNotFoundError, SecretResolver } from '@portico/secrets';

/**
 * A secret manager for tests, registered as the `aws` provider factory of a real
 * SecretResolver: values come from `values`, every provider call is counted, and `hold()`
 * makes calls wait until `release()` (to pile up concurrent requests on a cold cache).
 */
export class StubSecrets {
  readonly values = new Map<string, string>();
  readonly calls = new Map<string, number>();
  /** Provider instances built (one per /secrets/aws/<id> put). */
  builds = 0;
  private gate?: Promise<void>;
  private open?: () => void;
  private pending = 0;

  get totalCalls(): number {
    let n = 0;
    for (const c of this.calls.values()) n += c;
    return n;
  }

  get waiting(): number {
    return this.pending;
  }

  hold(): void {
    this.gate = new Promise((resolve) => (this.open = resolve));
  }

  release(): void {
    this.open?.();
    this.gate = undefined;
  }

  resolver(opts: { now?: () => number; env?: NodeJS.ProcessEnv; ttlSeconds?: number; negTtlSeconds?: number } = {}): SecretResolver {
    return new SecretResolver({
      ttlSeconds: opts.ttlSeconds ?? 300,
      negTtlSeconds: opts.negTtlSeconds ?? 60,
      maxEntries: 1000,
      now: opts.now,
      random: () => 0.5, // no TTL jitter: tests move the clock to exact expiries
      env: opts.env,
      providers: {
        aws: () => {
          this.builds++;
          return {
            get: async (path: string) => {
              this.calls.set(path, (this.calls.get(path) ?? 0) + 1);
              if (this.gate) {
                this.pending++;
                await this.gate;
                this.pending--;
              }
              const v = this.values.get(path);
              if (v === undefined) throw new SecretNotFoundError(`secret ${path} not found`);
              return v;
            },
          };
        },
      },
    });
  }
}
