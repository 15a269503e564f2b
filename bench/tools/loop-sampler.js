// Preloaded into a system under test by bench/tools/loop-profile.ts (`node -r`): what stalls the event
// loop during a paced run. SIGUSR2 starts an event-loop delay histogram (1 ms resolution) and a
// GC observer; the second SIGUSR2 writes both to $SAMPLER_OUT as JSON.
'use strict';
const { monitorEventLoopDelay, PerformanceObserver, constants } = require('node:perf_hooks');
const fs = require('node:fs');

const out = process.env.SAMPLER_OUT || 'loop-profile.json';
const kinds = { [constants.NODE_PERFORMANCE_GC_MAJOR]: 'major', [constants.NODE_PERFORMANCE_GC_MINOR]: 'minor', [constants.NODE_PERFORMANCE_GC_INCREMENTAL]: 'incremental', [constants.NODE_PERFORMANCE_GC_WEAKCB]: 'weakcb' };
let histogram;
let observer;
let gcs = [];
let startedAt = 0;

process.on('SIGUSR2', () => {
  if (!histogram) {
    histogram = monitorEventLoopDelay({ resolution: 1 });
    histogram.enable();
    observer = new PerformanceObserver((list) => {
      for (const e of list.getEntries()) gcs.push({ kind: kinds[e.detail.kind] || String(e.detail.kind), ms: e.duration });
    });
    observer.observe({ entryTypes: ['gc'] });
    startedAt = performance.now();
    return;
  }
  histogram.disable();
  observer.disconnect();
  const seconds = (performance.now() - startedAt) / 1000;
  const ms = (ns) => Math.round(ns / 1e4) / 100;
  const byKind = {};
  for (const g of gcs) {
    const k = (byKind[g.kind] ??= { count: 0, totalMs: 0, maxMs: 0, over1ms: 0 });
    k.count++; k.totalMs += g.ms; k.maxMs = Math.max(k.maxMs, g.ms); if (g.ms > 1) k.over1ms++;
  }
  for (const k of Object.values(byKind)) { k.totalMs = Math.round(k.totalMs * 10) / 10; k.maxMs = Math.round(k.maxMs * 100) / 100; }
  fs.writeFileSync(out, JSON.stringify({
    seconds: Math.round(seconds * 10) / 10,
    loopDelayMs: { p50: ms(histogram.percentile(50)), p90: ms(histogram.percentile(90)), p99: ms(histogram.percentile(99)), max: ms(histogram.max) },
    gc: byKind,
  }) + '\n');
});
