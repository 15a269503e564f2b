import type { Target } from '../upstream';
import type { ActiveChecks, PassiveChecks, ResolvedChecks } from './config';
import { probe, type ProbeResult } from './probe';
import { NodeHealth, type Counters, type HealthStatus, type Outcome, type Thresholds } from './state';

/** One upstream's entry in `GET /v1/healthcheck` (APISIX's shape). */
export interface HealthView {
  name: string;
  type: string;
  nodes: Array<{ ip: string; port: number; hostname: string; status: HealthStatus; counter: Counters }>;
}

/**
 * The health of one upstream's nodes, fed by active probes (timers owned here) and passive
 * reports from the proxy. Built and stopped with the UpstreamRuntime, so a changed upstream
 * starts afresh (as APISIX recreates its checker) and an unchanged one keeps its state.
 */
export class HealthChecker {
  private readonly health = new Map<Target, NodeHealth>();
  private readonly timers = new Set<NodeJS.Timeout>();
  private readonly abort = new AbortController();
  private stopped = false;
  /** Nodes currently unhealthy; lets the proxy's hot path skip all work while it is 0. */
  private unhealthy = 0;

  constructor(
    readonly name: string,
    readonly targets: readonly Target[],
    readonly checks: ResolvedChecks,
    private readonly onChange?: (t: Target, healthy: boolean, why: string) => void,
  ) {
    for (const t of targets) if (!this.health.has(t)) this.health.set(t, new NodeHealth());
  }

  /** Starts the active probe loops (no-op without `checks.active`). */
  start(): void {
    const a = this.checks.active;
    if (!a || this.stopped) return;
    // Healthy and unhealthy nodes are probed on separate schedules, as in lua-resty-healthcheck;
    // an interval of 0 turns that loop off.
    this.schedule(true, a);
    this.schedule(false, a);
  }

  stop(): void {
    this.stopped = true;
    for (const t of this.timers) clearTimeout(t);
    this.timers.clear();
    this.abort.abort();
  }

  get anyUnhealthy(): boolean {
    return this.unhealthy > 0;
  }

  isHealthy(t: Target): boolean {
    return this.health.get(t)?.healthy ?? true;
  }

  /** Passive: the node answered with this status. */
  reportStatus(t: Target, status: number): void {
    const p = this.checks.passive;
    if (!p) return;
    if (p.type === 'tcp') return this.record(t, 'success', passiveThresholds(p), 'passive');
    if (p.healthy.http_statuses.includes(status)) this.record(t, 'success', passiveThresholds(p), 'passive');
    else if (p.unhealthy.http_statuses.includes(status)) this.record(t, 'http_failure', passiveThresholds(p), `passive: status ${status}`);
  }

  /** Passive: the request failed before any answer (connect error, reset, or timeout). */
  reportFailure(t: Target, kind: 'tcp_failure' | 'timeout_failure'): void {
    const p = this.checks.passive;
    if (p) this.record(t, kind, passiveThresholds(p), `passive: ${kind}`);
  }

  view(): HealthView {
    return {
      name: this.name,
      type: this.checks.active?.type ?? this.checks.passive?.type ?? 'http',
      nodes: [...this.health].map(([t, h]) => ({
        ip: t.node.host,
        port: t.node.port,
        hostname: t.node.host,
        status: h.status,
        counter: { ...h.counter },
      })),
    };
  }

  private record(t: Target, outcome: Outcome, th: Thresholds, why: string): void {
    const h = this.health.get(t);
    if (!h || this.stopped) return;
    if (!h.record(outcome, th)) return;
    this.unhealthy += h.healthy ? -1 : 1;
    this.onChange?.(t, h.healthy, why);
  }

  private schedule(healthyLoop: boolean, a: ActiveChecks): void {
    const interval = healthyLoop ? a.healthy.interval : a.unhealthy.interval;
    if (!(interval > 0) || this.stopped) return;
    const timer = setTimeout(() => {
      this.timers.delete(timer);
      // The next round is scheduled after this one ends, so slow probes never pile up.
      this.round(healthyLoop, a).finally(() => this.schedule(healthyLoop, a));
    }, interval * 1000);
    timer.unref();
    this.timers.add(timer);
  }

  /** Probes every node currently in the loop's state, at most `concurrency` at a time. */
  private async round(healthyLoop: boolean, a: ActiveChecks): Promise<void> {
    const due = [...this.health].filter(([, h]) => h.healthy === healthyLoop).map(([t]) => t);
    const th = activeThresholds(a);
    const worker = async (): Promise<void> => {
      for (let t = due.shift(); t && !this.stopped; t = due.shift()) {
        const r = await probe(t.node, a, this.abort.signal);
        if (this.stopped) return;
        const outcome = activeOutcome(r, a);
        if (outcome) this.record(t, outcome, th, `active: ${describe(r)}`);
      }
    };
    await Promise.all(Array.from({ length: Math.max(1, Math.min(a.concurrency, due.length)) }, worker));
  }
}

function activeOutcome(r: ProbeResult, a: ActiveChecks): Outcome | undefined {
  switch (r.kind) {
    case 'connected': return 'success';
    case 'tcp_failure': return 'tcp_failure';
    case 'timeout': return 'timeout_failure';
    default:
      // A status in neither list says nothing about the node (lua-resty-healthcheck ignores it).
      if (a.healthy.http_statuses.includes(r.status)) return 'success';
      if (a.unhealthy.http_statuses.includes(r.status)) return 'http_failure';
      return undefined;
  }
}

function describe(r: ProbeResult): string {
  return r.kind === 'status' ? `status ${r.status}` : r.kind;
}

function activeThresholds(a: ActiveChecks): Thresholds {
  return { successes: a.healthy.successes, http_failures: a.unhealthy.http_failures, tcp_failures: a.unhealthy.tcp_failures, timeouts: a.unhealthy.timeouts };
}

function passiveThresholds(p: PassiveChecks): Thresholds {
  return { successes: p.healthy.successes, http_failures: p.unhealthy.http_failures, tcp_failures: p.unhealthy.tcp_failures, timeouts: p.unhealthy.timeouts };
}
