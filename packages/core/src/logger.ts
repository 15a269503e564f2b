import pino, { Logger } from 'pino';

export type { Logger };

/**
 * One JSON logger for the process. Components take a child with `component` set.
 * Never pass secret values or credentials to a logger: name the reference or key instead.
 * Level from PORTICO_LOG_LEVEL (default info); tests set it to `warn` or `silent`.
 */
export const rootLogger: Logger = pino({
  level: process.env.PORTICO_LOG_LEVEL ?? 'info',
  base: { pid: process.pid },
  // Defence in depth: if an object carrying these fields is ever logged, the value is hidden.
  redact: {
    paths: ['key', '*.key', 'password', '*.password', 'secret_access_key', '*.secret_access_key',
      'session_token', '*.session_token', 'token', '*.token', 'headers.apikey', 'headers["x-api-key"]'],
    censor: '[redacted]',
  },
});

export function componentLogger(component: string): Logger {
  return rootLogger.child({ component });
}
