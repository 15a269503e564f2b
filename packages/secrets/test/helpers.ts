process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED = 'true';

import pino from 'pino';
import type { Logger } from '@portico/core';
import { createAwsProvider, createVaultProvider, SecretResolver, type SecretResolverOptions } from '@portico/secrets';
import { startAwsSecretsEmulator, type AwsSecretsEmulator } from '../../testkit/src/aws-secrets-emulator';

export { waitFor } from '../../testkit/src/wait-for';

export const CREDS = { accessKeyId: 'AKIDPORTICOTEST', secretAccessKey: 'portico-test-secret-access-key' };

/** The aws secret conf (SPEC §4) pointing at an emulator. */
export function awsConf(emu: AwsSecretsEmulator, overrides: Record<string, string> = {}): Record<string, string> {
  return {
    access_key_id: CREDS.accessKeyId,
    secret_access_key: CREDS.secretAccessKey,
    region: 'us-east-1',
    endpoint_url: emu.endpoint,
    ...overrides,
  };
}

/** A pino logger whose JSON lines are kept in memory so tests can read what was logged. */
export function captureLogger(): { logger: Logger; lines: string[]; text: () => string } {
  const lines: string[] = [];
  const logger = pino({ level: 'debug' }, { write: (s: string) => void lines.push(s) });
  return { logger, lines, text: () => lines.join('') };
}

/** A clock the test moves by hand; the resolver reads it, the SDK and emulator keep real time. */
export class ManualClock {
  t = 1_700_000_000_000;
  readonly now = (): number => this.t;
  advance(seconds: number): void {
    this.t += seconds * 1000;
  }
}

export interface Harness {
  emu: AwsSecretsEmulator;
  resolver: SecretResolver;
  clock: ManualClock;
  log: ReturnType<typeof captureLogger>;
  changes: string[];
  close(): Promise<void>;
}

/**
 * An emulator plus a resolver with a manual clock and a captured log. The aws provider makes
 * one attempt per call so injected errors cost one emulator call each.
 */
export async function harness(opts: Partial<SecretResolverOptions> = {}): Promise<Harness> {
  const emu = await startAwsSecretsEmulator({ credentials: [CREDS] });
  const clock = new ManualClock();
  const log = captureLogger();
  const resolver = new SecretResolver({
    ttlSeconds: 300,
    negTtlSeconds: 60,
    maxEntries: 1000,
    now: clock.now,
    random: () => 0.5, // no jitter unless a test asks for it
    logger: log.logger,
    providers: {
      aws: (conf) => createAwsProvider(conf, { maxAttempts: 1, requestTimeoutMs: 2000 }),
      vault: (conf) => createVaultProvider(conf, { env: opts.env }),
    },
    ...opts,
  });
  const changes: string[] = [];
  resolver.onChange((ref) => changes.push(ref));
  return {
    emu,
    resolver,
    clock,
    log,
    changes,
    async close() {
      resolver.close();
      await emu.close();
    },
  };
}
