import { mergeExpositions } from '@portico/gateway';

describe('mergeExpositions (a node\'s metrics over its workers)', () => {
  const worker = (n: number, revision: number) => [
    '# HELP portico_http_requests_total Requests.',
    '# TYPE portico_http_requests_total counter',
    `portico_http_requests_total{route="r1",code="200"} ${n}`,
    '# HELP portico_upstream_latency_seconds Latency.',
    '# TYPE portico_upstream_latency_seconds histogram',
    `portico_upstream_latency_seconds_bucket{route="r1",le="0.001"} ${n}`,
    `portico_upstream_latency_seconds_bucket{route="r1",le="+Inf"} ${n}`,
    `portico_upstream_latency_seconds_sum{route="r1"} ${n / 1000}`,
    `portico_upstream_latency_seconds_count{route="r1"} ${n}`,
    '# HELP portico_config_revision Revision.',
    '# TYPE portico_config_revision gauge',
    `portico_config_revision ${revision}`,
  ].join('\n') + '\n';

  it('sums counters and histogram series, takes the largest gauge, keeps HELP/TYPE once', () => {
    const merged = mergeExpositions([worker(3, 7), worker(5, 9)]);
    const lines = merged.trim().split('\n');
    expect(lines.filter((l) => l.startsWith('# TYPE portico_http_requests_total'))).toHaveLength(1);
    expect(lines).toContain('portico_http_requests_total{route="r1",code="200"} 8');
    expect(lines).toContain('portico_upstream_latency_seconds_bucket{route="r1",le="+Inf"} 8');
    expect(lines).toContain('portico_upstream_latency_seconds_count{route="r1"} 8');
    expect(lines).toContain('portico_config_revision 9');
    // the histogram's series stay under its TYPE line
    const type = lines.indexOf('# TYPE portico_upstream_latency_seconds histogram');
    expect(lines[type + 1]).toMatch(/^portico_upstream_latency_seconds_bucket/);
  });

  it('keeps series only one process has (a route only one worker served)', () => {
    const only = '# TYPE portico_http_requests_total counter\nportico_http_requests_total{route="r2",code="404"} 2\n';
    const merged = mergeExpositions([worker(1, 1), only]);
    expect(merged).toContain('portico_http_requests_total{route="r2",code="404"} 2');
    expect(merged).toContain('portico_http_requests_total{route="r1",code="200"} 1');
  });
});
