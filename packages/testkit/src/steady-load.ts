import http from 'node:http';

/**
 * A steady open-loop load for cluster tests: `rps` GET requests per second, spread round-robin
 * over `urls`, started on a fixed schedule whether or not earlier ones have answered (so a
 * stalled gateway shows up as failures, not as a slower client). Every reply other than
 * `expectStatus` — and every connection error or timeout — is counted as a failure and kept
 * for the test's message.
 */

export interface LoadReport {
  sent: number;
  ok: number;
  failed: number;
  /** Up to 20 failures, `url: status-or-error`. */
  failures: string[];
  durationMs: number;
}

export interface SteadyLoad {
  /** Requests answered so far (ok or not). */
  readonly answered: number;
  /** Stop sending, wait for the requests in flight, report. */
  stop(): Promise<LoadReport>;
}

export interface SteadyLoadOptions {
  /** Full URLs to GET, used in turn. May be replaced while running via setUrls(). */
  urls: string[];
  rps?: number;
  expectStatus?: number;
  /** Per-request timeout (default 5000 ms). */
  timeoutMs?: number;
}

export function startSteadyLoad(opts: SteadyLoadOptions): SteadyLoad & { setUrls(urls: string[]): void } {
  const rps = opts.rps ?? 200;
  const expect = opts.expectStatus ?? 200;
  const timeoutMs = opts.timeoutMs ?? 5000;
  const agent = new http.Agent({ keepAlive: true, maxSockets: 64 });
  let urls = [...opts.urls];
  const started = Date.now();
  let sent = 0;
  let ok = 0;
  let failed = 0;
  let answered = 0;
  const failures: string[] = [];
  const inFlight = new Set<Promise<void>>();
  const fail = (url: string, why: string) => {
    failed++;
    if (failures.length < 20) failures.push(`${url}: ${why}`);
  };
  const one = (url: string): Promise<void> => new Promise<void>((resolve) => {
    const req = http.get(url, { agent, timeout: timeoutMs }, (res) => {
      res.resume();
      res.on('end', () => {
        if (res.statusCode === expect) ok++;
        else fail(url, String(res.statusCode));
        resolve();
      });
      res.on('error', (err) => { fail(url, err.message); resolve(); });
    });
    req.on('timeout', () => req.destroy(new Error(`no answer within ${timeoutMs} ms`)));
    req.on('error', (err) => { fail(url, err.message); resolve(); });
  }).finally(() => { answered++; });

  // A tick every 10 ms sends however many requests the schedule says are due, so timer
  // jitter changes the burstiness a little but never the rate.
  const timer = setInterval(() => {
    const due = Math.floor(((Date.now() - started) * rps) / 1000);
    while (sent < due) {
      const url = urls[sent % urls.length];
      sent++;
      const p = one(url);
      inFlight.add(p);
      void p.finally(() => inFlight.delete(p));
    }
  }, 10);

  return {
    get answered() { return answered; },
    setUrls(next: string[]) { urls = [...next]; },
    async stop() {
      clearInterval(timer);
      await Promise.all([...inFlight]);
      agent.destroy();
      return { sent, ok, failed, failures, durationMs: Date.now() - started };
    },
  };
}
