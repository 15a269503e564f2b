import { quantile } from '../src/quantile';

describe('dashboard: latency quantiles from histogram buckets', () => {
  const buckets: Array<[number | string, number]> = [[0.001, 50], [0.01, 90], [0.1, 100], ['+Inf', 100]];

  it('interpolates within the bucket the rank falls in', () => {
    expect(quantile(0.5, buckets)).toBeCloseTo(0.001);
    expect(quantile(0.7, buckets)).toBeCloseTo(0.001 + 0.009 * (20 / 40));
    expect(quantile(0.99, buckets)).toBeCloseTo(0.01 + 0.09 * (9 / 10));
  });

  it('answers the highest finite bound for a rank in +Inf, and NaN without data', () => {
    expect(quantile(0.99, [[0.5, 1], ['+Inf', 10]])).toBe(0.5);
    expect(quantile(0.5, [[0.5, 0], ['+Inf', 0]])).toBeNaN();
    expect(quantile(0.5, [])).toBeNaN();
  });
});
