import { ChildProcess, spawn } from 'node:child_process';
import path from 'node:path';
import readline from 'node:readline';
import { waitFor } from './wait-for';

const live = new Set<EmbeddedChild>();

/** A child process running helpers/embedded-store-process.js against a data dir (see that file). */
export class EmbeddedChild {
  readonly lines: string[] = [];
  private stderr = '';
  private readonly proc: ChildProcess;
  readonly exited: Promise<void>;

  constructor(dataDir: string, mode: 'hold' | 'write', count = 0) {
    this.proc = spawn(process.execPath, [
      '-r', path.join(__dirname, 'ts-register.js'),
      path.join(__dirname, 'embedded-store-process.js'),
      dataDir, mode, String(count),
    ], {
      // The logger writes to stdout, which is our line protocol.
      env: { ...process.env, PORTICO_LOG_LEVEL: 'silent' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    live.add(this);
    readline.createInterface({ input: this.proc.stdout! }).on('line', (l) => this.lines.push(l));
    this.proc.stderr!.on('data', (d) => { this.stderr += String(d); });
    // 'close' (not 'exit'): by then stdout is drained, so `lines` holds everything printed.
    this.exited = new Promise((resolve) => this.proc.once('close', () => { live.delete(this); resolve(); }));
  }

  get pid(): number {
    return this.proc.pid!;
  }

  /** Wait for a stdout line matching `re`; fails early (with stderr) if the child dies. */
  async waitForLine(re: RegExp, timeoutMs = 20_000): Promise<RegExpMatchArray> {
    return waitFor(() => {
      for (const l of this.lines) {
        const m = re.exec(l);
        if (m) return m;
      }
      if (this.proc.exitCode !== null || this.proc.signalCode !== null) {
        throw new Error(`child exited (${this.proc.exitCode ?? this.proc.signalCode}) without printing ${re}; stdout: ${this.lines.join(' | ')}; stderr: ${this.stderr}`);
      }
      return undefined;
    }, { timeoutMs, what: `child line ${re}` });
  }

  async kill(signal: NodeJS.Signals = 'SIGKILL'): Promise<void> {
    if (this.proc.exitCode === null && this.proc.signalCode === null) this.proc.kill(signal);
    await this.exited;
  }
}

/** For afterEach: no child outlives its test. */
export async function killAllEmbeddedChildren(): Promise<void> {
  await Promise.all([...live].map((c) => c.kill()));
}
