/**
 * One node's health as lua-resty-healthcheck keeps it: a healthy/unhealthy state and four
 * counters. A success resets the failure counters and a failure resets the success counter,
 * so thresholds count consecutive events; reaching a threshold flips the state and clears
 * every counter. An event that agrees with the current state only clears the opposite
 * counters (a healthy node's successes are not news, but they break a run of failures).
 * `status` reports a node part-way to flipping as `mostly_healthy` / `mostly_unhealthy`,
 * APISIX's words in `/v1/healthcheck`. Thresholds come from the reporter (active and passive checks have
 * their own), and a threshold of 0 disables that kind of event.
 */

export type Outcome = 'success' | 'http_failure' | 'tcp_failure' | 'timeout_failure';

export interface Thresholds {
  successes: number;
  http_failures: number;
  tcp_failures: number;
  timeouts: number;
}

export interface Counters {
  success: number;
  http_failure: number;
  tcp_failure: number;
  timeout_failure: number;
}

/** APISIX's status words: `mostly_*` is a node on its way to flipping. */
export type HealthStatus = 'healthy' | 'mostly_healthy' | 'unhealthy' | 'mostly_unhealthy';

export class NodeHealth {
  healthy = true;
  readonly counter: Counters = { success: 0, http_failure: 0, tcp_failure: 0, timeout_failure: 0 };

  /** Records one event; returns true when it flipped the state. */
  record(outcome: Outcome, th: Thresholds): boolean {
    const c = this.counter;
    if (outcome === 'success') {
      c.http_failure = c.tcp_failure = c.timeout_failure = 0;
      if (this.healthy || th.successes <= 0) return false;
      if (++c.success < th.successes) return false;
      this.flip(true);
      return true;
    }
    const limit = outcome === 'http_failure' ? th.http_failures : outcome === 'tcp_failure' ? th.tcp_failures : th.timeouts;
    if (limit <= 0) return false;
    c.success = 0;
    if (!this.healthy) return false;
    if (++c[outcome] < limit) return false;
    this.flip(false);
    return true;
  }

  get status(): HealthStatus {
    const c = this.counter;
    if (this.healthy) return c.http_failure + c.tcp_failure + c.timeout_failure > 0 ? 'mostly_healthy' : 'healthy';
    return c.success > 0 ? 'mostly_unhealthy' : 'unhealthy';
  }

  private flip(healthy: boolean): void {
    this.healthy = healthy;
    const c = this.counter;
    c.success = c.http_failure = c.tcp_failure = c.timeout_failure = 0;
  }
}
