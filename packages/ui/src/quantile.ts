/**
 * Prometheus' histogram_quantile over cumulative buckets `[le, count]` (the last `+Inf`):
 * linear within the bucket the rank falls in; NaN without observations. A rank in the `+Inf`
 * bucket answers the highest finite bound, as Prometheus does.
 */
export function quantile(q: number, buckets: Array<[number | string, number]>): number {
  if (!buckets.length) return NaN;
  const total = buckets[buckets.length - 1][1];
  if (total <= 0) return NaN;
  const rank = q * total;
  let prevLe = 0, prevCount = 0;
  for (const [leRaw, count] of buckets) {
    const le = leRaw === '+Inf' ? Infinity : Number(leRaw);
    if (count >= rank) {
      if (le === Infinity) return prevLe;
      return prevLe + (le - prevLe) * ((rank - prevCount) / Math.max(1e-12, count - prevCount));
    }
    prevLe = le;
    prevCount = count;
  }
  return prevLe;
}

