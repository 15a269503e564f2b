// Preloaded into a system under test by bench/tools/alloc-profile.ts (`node -r`): V8's sampling heap
// profiler with objects collected by GC kept, i.e. where the allocation churn comes from rather
// than what stays live (node's --heap-prof keeps only the latter). SIGUSR2 starts sampling; the
// second SIGUSR2 stops and writes the top allocation sites (self bytes, with 3 callers) to
// $SAMPLER_OUT.
'use strict';
const inspector = require('node:inspector');
const fs = require('node:fs');

const out = process.env.SAMPLER_OUT || 'alloc-profile.txt';
const session = new inspector.Session();
session.connect();
let sampling = false;

const name = (f) => `${f.functionName || '(anon)'} ${f.url.replace(/.*node_modules\//, 'nm:').replace(/.*packages\//, '').replace('node:internal/', '')}:${f.lineNumber}`;

process.on('SIGUSR2', () => {
  if (!sampling) {
    sampling = true;
    session.post('HeapProfiler.startSampling', { samplingInterval: 4096, includeObjectsCollectedByMajorGC: true, includeObjectsCollectedByMinorGC: true });
    return;
  }
  session.post('HeapProfiler.stopSampling', (err, r) => {
    if (err) return fs.writeFileSync(out, `error: ${err.message}\n`);
    const bySite = new Map();
    let total = 0;
    (function walk(node, callers) {
      const site = [name(node.callFrame), ...callers.slice(-3).reverse()].join(' <- ');
      total += node.selfSize;
      if (node.selfSize) bySite.set(site, (bySite.get(site) || 0) + node.selfSize);
      for (const child of node.children) walk(child, [...callers, name(node.callFrame)]);
    })(r.profile.head, []);
    const top = Array.from(bySite.entries()).sort((a, b) => b[1] - a[1]).slice(0, 40)
      .map(([site, bytes]) => `${((100 * bytes) / total).toFixed(1).padStart(5)} % ${site}`);
    fs.writeFileSync(out, `total ${total} bytes\n${top.join('\n')}\n`);
  });
});
