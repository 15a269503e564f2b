import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

/**
 * Whole-run log capture for the secret-leak scan: every log line written during the whole test
 * run is scanned for every secret value the tests used.
 *
 * A run has a capture directory, `PORTICO_LOG_CAPTURE_DIR` (created by scripts/run-tests.sh, or
 * by the jest globalSetup in log-capture-global.ts when jest runs on its own). It holds:
 *   - `*.log` output: jest's own stdout/stderr (tee'd by run-tests.sh) and every test worker's
 *     stdout/stderr (tee'd by installLogCapture(), a jest setupFiles module);
 *   - `tmp/`: the TMPDIR of the run, so the data directories of child processes (the
 *     `portico.log` that testkit's startPortico writes, etcd's) are there at the end;
 *   - `secrets/<pid>.jsonl`: the secret values tests used, base64-encoded, one per line with
 *     the name they are reported under (registerSecretValue).
 * At the end log-scan.ts scans every `*.log` under the directory for every registered value and
 * names the file, line and reference of a hit — never the value.
 */

export const LOG_CAPTURE_ENV = 'PORTICO_LOG_CAPTURE_DIR';
/** Values shorter than this are not registered: they would match ordinary text. */
export const MIN_SECRET_LENGTH = 6;

export function captureDir(env: NodeJS.ProcessEnv = process.env): string | undefined {
  const dir = env[LOG_CAPTURE_ENV];
  return dir ? dir : undefined;
}

export interface RegisteredSecret {
  /** what a report calls it (a reference, a test name), never the value */
  ref: string;
  value: string;
}

const registered = new Set<string>();

/**
 * Records a secret value a test uses, so the end-of-run scan looks for it in every log.
 * Emulators call it for every value they store; tests call it for values they pass otherwise.
 * A no-op outside a capturing run. `ref` names the value in a report.
 */
export function registerSecretValue(value: string, ref = 'secret'): void {
  const dir = captureDir();
  if (!dir || typeof value !== 'string' || value.length < MIN_SECRET_LENGTH) return;
  const key = `${dir}\u0000${ref}\u0000${value}`;
  if (registered.has(key)) return;
  registered.add(key);
  const secretsDir = path.join(dir, 'secrets');
  fs.mkdirSync(secretsDir, { recursive: true, mode: 0o700 });
  const line = JSON.stringify({ ref, b64: Buffer.from(value, 'utf8').toString('base64') });
  fs.appendFileSync(path.join(secretsDir, `${process.pid}.jsonl`), `${line}\n`, { mode: 0o600 });
}

/** Every value registered during the run (all processes), deduplicated by value. */
export function readRegisteredSecrets(dir: string): RegisteredSecret[] {
  const secretsDir = path.join(dir, 'secrets');
  let files: string[];
  try {
    files = fs.readdirSync(secretsDir).filter((f) => f.endsWith('.jsonl')).sort();
  } catch {
    return [];
  }
  const byValue = new Map<string, RegisteredSecret>();
  for (const f of files) {
    for (const line of fs.readFileSync(path.join(secretsDir, f), 'utf8').split('\n')) {
      if (!line) continue;
      try {
        const j = JSON.parse(line) as { ref?: unknown; b64?: unknown };
        if (typeof j.b64 !== 'string') continue;
        const value = Buffer.from(j.b64, 'base64').toString('utf8');
        if (!byValue.has(value)) byValue.set(value, { ref: typeof j.ref === 'string' ? j.ref : 'secret', value });
      } catch {
        /* a torn line from a killed worker */
      }
    }
  }
  return [...byValue.values()];
}

const INSTALLED = Symbol.for('portico.logCapture.installed');

/**
 * Tees this process's stdout and stderr (stream writes and the fd writes pino's sync
 * destination makes) into `<dir>/worker-<pid>.log`. Idempotent per process. Used as a jest
 * setupFiles module; a no-op outside a capturing run.
 */
export function installLogCapture(): void {
  const dir = captureDir();
  if (!dir) return;
  const holder = fs as unknown as Record<symbol, boolean>;
  if (holder[INSTALLED]) return;
  holder[INSTALLED] = true;
  fs.mkdirSync(dir, { recursive: true });
  const fd = fs.openSync(path.join(dir, `worker-${process.pid}.log`), 'a');
  const tee = (chunk: unknown, encoding?: unknown): void => {
    try {
      if (typeof chunk === 'string') fs.writeSync(fd, Buffer.from(chunk, typeof encoding === 'string' ? (encoding as BufferEncoding) : 'utf8'));
      else if (chunk instanceof Uint8Array) fs.writeSync(fd, chunk);
    } catch {
      /* capture is best effort; never break the test */
    }
  };
  for (const stream of [process.stdout, process.stderr]) {
    const original = stream.write.bind(stream) as (...args: unknown[]) => boolean;
    stream.write = ((chunk: unknown, ...rest: unknown[]) => {
      tee(chunk, rest[0]);
      return original(chunk, ...rest);
    }) as typeof stream.write;
  }
  const originalWriteSync = fs.writeSync;
  (fs as { writeSync: unknown }).writeSync = function writeSync(this: unknown, target: number, ...rest: unknown[]) {
    if ((target === 1 || target === 2) && target !== fd) tee(rest[0], typeof rest[1] === 'string' ? rest[1] : undefined);
    return (originalWriteSync as (...a: unknown[]) => number).call(this, target, ...rest);
  } as typeof fs.writeSync;
}

/** Set when the jest globalSetup created the capture directory (jest run without run-tests.sh). */
export const OWNER_ENV = 'PORTICO_LOG_CAPTURE_OWNER';

/**
 * jest globalSetup (main process, before the workers start, so they and their children inherit
 * the environment): makes sure there is a capture directory and points TMPDIR into it, so the
 * data directories of child processes, and their logs, end up where the scan looks.
 */
export function setUpRunCapture(): void {
  let dir = captureDir();
  if (!dir) {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'portico-log-capture-'));
    process.env[LOG_CAPTURE_ENV] = dir;
    process.env[OWNER_ENV] = 'jest';
  }
  const tmp = path.join(dir, 'tmp');
  fs.mkdirSync(tmp, { recursive: true });
  process.env.TMPDIR = tmp;
}
