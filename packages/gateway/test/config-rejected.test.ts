import './helpers/quiet-logs';
import { startEchoUpstream, type EchoUpstream } from '@portico/testkit';
import { httpRequest, startHarness, type Harness } from './helpers/harness';

/**
 * A value the Admin API would refuse can still reach a node: written straight to etcd, or by an
 * older version. The node keeps the previous valid value, and says so: the key and the reason
 * on the control API (`GET /v1/config` → `rejected`) and in the metrics, besides the log line.
 */
describe('refused configuration is reported', () => {
  let h: Harness;
  let echo: EchoUpstream;

  beforeAll(async () => {
    h = await startHarness();
    echo = await startEchoUpstream({ name: 'echo' });
  });
  afterAll(async () => {
    await h.close();
    await echo.close();
  });

  const upstream = () => ({ type: 'roundrobin', nodes: { [`127.0.0.1:${echo.port}`]: 1 } });
  const config = async () => (await httpRequest(h.controlPort, '/v1/config')).json<{ rejected: unknown[] }>();
  const metric = async (name: string) => {
    const text = (await httpRequest(h.metricsPort, '/metrics')).text;
    const line = text.split('\n').find((l) => l.startsWith(`${name} `));
    return line === undefined ? undefined : Number(line.slice(name.length + 1));
  };

  it('lists a key written to the store with an invalid regex, keeps its previous version, and counts it', async () => {
    await h.put('routes/r1', { uri: '/r1', vars: [['uri', '~~', '^/r1$']], upstream: upstream() });
    expect((await h.request('/r1')).status).toBe(200);
    expect((await config()).rejected).toEqual([]);
    expect(await metric('portico_config_rejected_items')).toBe(0);
    const before = (await metric('portico_config_rejections_total'))!;

    const revision = await h.put('routes/r1', { uri: '/r1', vars: [['uri', '~~', '^(']], upstream: upstream() });
    await h.put('routes/r2', { uri: '/r2', upstream: { type: 'roundrobin', nodes: { '127.0.0.1:70000': 1 } } });
    expect((await config()).rejected).toEqual([
      { key: '/apisix/routes/r1', mod_revision: revision, reason: 'failed to validate the \'vars\' expression: invalid regex "^(": Unterminated group', kept_previous: true },
      { key: '/apisix/routes/r2', mod_revision: revision + 1,
        reason: 'invalid configuration: property "nodes" validation failed: invalid node address "127.0.0.1:70000": invalid port "70000"', kept_previous: false },
    ]);
    expect(await metric('portico_config_rejected_items')).toBe(2);
    expect(await metric('portico_config_rejections_total')).toBe(before + 2);
    // The previous version of r1 still answers; r2 was never applied.
    expect((await h.request('/r1')).status).toBe(200);
    expect((await h.request('/r2')).status).toBe(404);

    // A valid value, or none, ends the listing; the counter keeps what happened.
    await h.put('routes/r1', { uri: '/r1', upstream: upstream() });
    await h.del('routes/r2');
    expect((await config()).rejected).toEqual([]);
    expect(await metric('portico_config_rejected_items')).toBe(0);
    expect(await metric('portico_config_rejections_total')).toBe(before + 2);
  });
});
