// Preloaded into a system under test (`--require bench/tools/gc-marks.js` among bench-profile.ts's node
// flags): every GC pause, with its start on CLOCK_MONOTONIC (the clock of openloop's -o trace),
// written at exit to $GC_MARKS_OUT or gc-marks-<pid>.txt in the working directory, one line per
// pause: "start_ms duration_ms kind". bench/tools/tail-episodes.ts matches them with the trace.
'use strict';
const { PerformanceObserver, performance, constants } = require('node:perf_hooks');
const fs = require('node:fs');

// performance.now() counts from timeOrigin on the monotonic clock process.hrtime reads.
const originMs = Number(process.hrtime.bigint() / 1000n) / 1000 - performance.now();
const kinds = { [constants.NODE_PERFORMANCE_GC_MINOR]: 'minor', [constants.NODE_PERFORMANCE_GC_MAJOR]: 'major', [constants.NODE_PERFORMANCE_GC_INCREMENTAL]: 'incremental', [constants.NODE_PERFORMANCE_GC_WEAKCB]: 'weakcb' };
const lines = [];
new PerformanceObserver((list) => {
  for (const e of list.getEntries()) lines.push(`${(originMs + e.startTime).toFixed(3)} ${e.duration.toFixed(3)} ${kinds[e.detail.kind] || e.detail.kind}`);
}).observe({ entryTypes: ['gc'] });
let written = false;
function write() {
  if (written) return;
  written = true;
  fs.writeFileSync(process.env.GC_MARKS_OUT || `gc-marks-${process.pid}.txt`, lines.join('\n') + '\n');
}
process.on('exit', write);
// A process without a SIGTERM handler of its own (the bare proxies) would die without 'exit':
// write, then exit as the default action would. Portico handles SIGTERM itself and exits.
process.on('SIGTERM', () => {
  write();
  if (process.listenerCount('SIGTERM') === 1) process.exit(143);
});
