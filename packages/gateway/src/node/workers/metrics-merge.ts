/**
 * Merges the Prometheus text expositions of a node's processes (primary and workers) into
 * one: a scrape of the node must count every request once whichever worker answered it.
 * Counters and histogram series are summed; gauges (one value per node, e.g. the applied
 * config revision) take the largest.
 */
export function mergeExpositions(texts: readonly string[]): string {
  const meta = new Map<string, string[]>(); // metric family → its HELP/TYPE lines
  const types = new Map<string, string>();
  const series = new Map<string, { family: string; value: number }>();
  const familyOrder: string[] = [];
  const seriesOrder = new Map<string, string[]>(); // family → series keys in first-seen order

  for (const text of texts) {
    for (const line of text.split('\n')) {
      if (!line) continue;
      if (line.startsWith('#')) {
        const m = /^# (HELP|TYPE) (\S+)(?: (.*))?$/.exec(line);
        if (!m) continue;
        const family = m[2];
        if (!meta.has(family)) {
          meta.set(family, []);
          familyOrder.push(family);
          seriesOrder.set(family, []);
        }
        const lines = meta.get(family)!;
        if (!lines.some((l) => l.startsWith(`# ${m[1]} `))) lines.push(line);
        if (m[1] === 'TYPE') types.set(family, m[3] ?? 'untyped');
        continue;
      }
      const sp = line.lastIndexOf(' ');
      if (sp <= 0) continue;
      const key = line.slice(0, sp);
      const value = Number(line.slice(sp + 1));
      if (Number.isNaN(value)) continue;
      const family = familyOf(key, meta);
      const prev = series.get(key);
      if (!prev) {
        series.set(key, { family, value });
        if (!seriesOrder.has(family)) {
          seriesOrder.set(family, []);
          familyOrder.push(family);
        }
        seriesOrder.get(family)!.push(key);
      } else {
        prev.value = types.get(family) === 'gauge' ? Math.max(prev.value, value) : prev.value + value;
      }
    }
  }

  const out: string[] = [];
  for (const family of familyOrder) {
    out.push(...(meta.get(family) ?? []));
    for (const key of seriesOrder.get(family) ?? []) out.push(`${key} ${series.get(key)!.value}`);
  }
  return out.join('\n') + '\n';
}

/** `name{labels}` → its family: the name, or for histograms the name without _bucket/_sum/_count. */
function familyOf(seriesKey: string, meta: Map<string, string[]>): string {
  const brace = seriesKey.indexOf('{');
  const name = brace < 0 ? seriesKey : seriesKey.slice(0, brace);
  if (meta.has(name)) return name;
  for (const suffix of ['_bucket', '_sum', '_count', '_total']) {
    if (name.endsWith(suffix) && meta.has(name.slice(0, -suffix.length))) return name.slice(0, -suffix.length);
  }
  return name;
}
