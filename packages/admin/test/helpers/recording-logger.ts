import type { Logger } from '@portico/core';

export interface LogEntry {
  level: 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace';
  obj: unknown;
  msg?: string;
}

/**
 * A Logger stand-in that keeps what it is given, so a test can assert that nothing was logged
 * at error level (the admin API logs every unexpected 500 there).
 */
export function recordingLogger(): { logger: Logger; entries: LogEntry[]; errors(): LogEntry[] } {
  const entries: LogEntry[] = [];
  const at = (level: LogEntry['level']) => (obj: unknown, msg?: string) => {
    entries.push({ level, obj, msg });
  };
  const logger = {
    fatal: at('fatal'), error: at('error'), warn: at('warn'), info: at('info'), debug: at('debug'), trace: at('trace'),
    child: () => logger,
  };
  return {
    logger: logger as unknown as Logger,
    entries,
    errors: () => entries.filter((e) => e.level === 'error' || e.level === 'fatal'),
  };
}
