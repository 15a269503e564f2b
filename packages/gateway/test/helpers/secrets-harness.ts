import { createAwsProvider, SecretResolver } from '@portico/secrets';
import {
  registerSecretValue,
  startAwsSecretsEmulator,
  startEchoUpstream,
  type AwsSecretsEmulator,
  type EchoUpstream,
} from '@portico/testkit';
import { captureLogger } from './log-capture';
import { startHarness, type Harness } from './harness';

/**
 * The gateway's secret tests' common set-up: the AWS Secrets Manager emulator, an echo
 * upstream, and a gateway whose SecretResolver runs on a hand-moved clock (TTLs pass without
 * waiting; the SDK, the emulator and HTTP keep real time) with a private environment for
 * `$env://`. Every secret value a test uses is registered, for its own log check and the
 * run-wide log scan.
 */
export interface SecretsHarness {
  emu: AwsSecretsEmulator;
  echo: EchoUpstream;
  h: Harness;
  resolver: SecretResolver;
  /** what `$env://` reads */
  env: NodeJS.ProcessEnv;
  cap: ReturnType<typeof captureLogger>;
  /** the resolver's clock, ms */
  now(): number;
  advance(seconds: number): void;
  /** An aws secret manager conf (SPEC §4) pointing at the emulator. */
  awsConf(over?: Record<string, unknown>): Record<string, unknown>;
  /** Registers `v` as a secret value and returns it. */
  secretValue(v: string): string;
  /** Every secret value so far, the emulator's secret access key included. */
  readonly secretValues: ReadonlySet<string>;
  close(): Promise<void>;
}

export async function startSecretsHarness(opts: {
  /** names the values in the log scan's report */
  name: string;
  creds: { accessKeyId: string; secretAccessKey: string };
  ttl: number;
  negTtl: number;
  /** random() for the TTL jitter; near 1 = the longest TTL */
  random: number;
}): Promise<SecretsHarness> {
  const cap = captureLogger();
  const env: NodeJS.ProcessEnv = {};
  const secretValues = new Set<string>();
  const secretValue = (v: string) => {
    secretValues.add(v);
    registerSecretValue(v, opts.name);
    return v;
  };
  secretValue(opts.creds.secretAccessKey);
  const emu = await startAwsSecretsEmulator({ credentials: [opts.creds] });
  const echo = await startEchoUpstream({ name: 'echo' });
  let t = 1_700_000_000_000;
  const resolver = new SecretResolver({
    ttlSeconds: opts.ttl,
    negTtlSeconds: opts.negTtl,
    maxEntries: 1000,
    now: () => t,
    random: () => opts.random,
    logger: cap.logger,
    env,
    providers: { aws: (conf) => createAwsProvider(conf) },
  });
  const h = await startHarness({ resolver, logger: cap.logger });
  return {
    emu,
    echo,
    h,
    resolver,
    env,
    cap,
    now: () => t,
    advance: (seconds) => {
      t += seconds * 1000;
    },
    awsConf: (over = {}) => ({
      access_key_id: opts.creds.accessKeyId,
      secret_access_key: opts.creds.secretAccessKey,
      endpoint_url: emu.endpoint,
      region: 'us-east-1',
      request_timeout: 1,
      retries: 0,
      ...over,
    }),
    secretValue,
    secretValues,
    async close() {
      await h.close();
      resolver.close();
      await echo.close();
      await emu.close();
    },
  };
}
