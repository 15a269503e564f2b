import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';

const ROOT = path.resolve(__dirname, '../../../..');

/**
 * A fuzz server process (server-child.ts, or another script with its IPC protocol), started
 * with ts-node from the sources. `crashes` counts its uncaught exceptions (reported over IPC)
 * and deaths (it is restarted then); `lastCrash` keeps the last one's stack or stderr.
 */
export class FuzzChild {
  port = 0;
  crashes = 0;
  lastCrash = '';
  private proc?: ChildProcess;
  private nextId = 1;
  private readonly waiting = new Map<number, (m: Record<string, unknown>) => void>();
  private stderr = '';
  private starting?: Promise<void>;
  private stopping = false;

  constructor(readonly script: string, readonly args: string[]) {}

  get alive(): boolean {
    return this.proc !== undefined && this.proc.exitCode === null && this.proc.signalCode === null;
  }

  start(): Promise<void> {
    this.starting ??= new Promise<void>((resolve, reject) => {
      const proc = spawn(process.execPath, ['-r', 'ts-node/register/transpile-only', this.script, ...this.args], {
        cwd: ROOT,
        stdio: ['ignore', 'ignore', 'pipe', 'ipc'],
        env: { ...process.env, TS_NODE_PROJECT: path.join(ROOT, 'tsconfig.test.json') },
      });
      this.proc = proc;
      this.stderr = '';
      proc.stderr!.on('data', (d: Buffer) => {
        this.stderr = (this.stderr + d.toString()).slice(-4000);
      });
      proc.on('message', (m: Record<string, unknown>) => {
        if (m.type === 'ready') {
          this.port = m.port as number;
          resolve();
          return;
        }
        if (m.type === 'uncaught') {
          this.crashes++;
          this.lastCrash = `uncaught: ${m.stack as string}`;
          return;
        }
        const cb = this.waiting.get(m.id as number);
        this.waiting.delete(m.id as number);
        cb?.(m);
      });
      proc.on('exit', (code, signal) => {
        this.starting = undefined;
        if (this.proc === proc) this.proc = undefined;
        if (this.stopping) return;
        this.crashes++;
        this.lastCrash = `exit ${code ?? signal}: ${this.stderr}`;
        reject(new Error(`fuzz child ${this.args.join(' ')} exited before it was ready: ${this.lastCrash}`));
        // Whoever waits for an answer gets none: the case sees the crash.
        for (const cb of this.waiting.values()) cb({ type: 'dead' });
        this.waiting.clear();
      });
    });
    return this.starting;
  }

  /** Sends `msg` and resolves with the answer, or `{ type: 'dead' }` when the process died. */
  ask(msg: Record<string, unknown>): Promise<Record<string, unknown>> {
    const proc = this.proc;
    if (!proc || !this.alive || !proc.connected) return Promise.resolve({ type: 'dead' });
    const id = this.nextId++;
    return new Promise((resolve) => {
      this.waiting.set(id, resolve);
      proc.send({ ...msg, id }, (err) => {
        if (err && this.waiting.delete(id)) resolve({ type: 'dead' });
      });
    });
  }

  async stop(): Promise<void> {
    this.stopping = true;
    const proc = this.proc;
    if (!proc || !this.alive) return;
    await new Promise<void>((resolve) => {
      proc.once('exit', () => resolve());
      proc.kill('SIGKILL');
    });
  }
}
