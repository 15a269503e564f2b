import { collectionKey, parseResourceKey, resourceKey } from '@portico/core';

describe('etcd key layout', () => {
  it.each([
    ['/apisix/routes/1', { resource: 'routes', id: '1' }],
    ['/apisix/upstreams/u-1', { resource: 'upstreams', id: 'u-1' }],
    ['/apisix/consumers/john', { resource: 'consumers', id: 'john' }],
    ['/apisix/consumers/john/credentials/c1', { resource: 'credentials', consumer: 'john', id: 'c1' }],
    ['/apisix/secrets/aws/john', { resource: 'secrets', manager: 'aws', id: 'john' }],
  ])('round-trips %s', (key, ref) => {
    expect(parseResourceKey('/apisix', key)).toEqual(ref);
    expect(resourceKey('/apisix/', ref as never)).toBe(key);
  });

  it.each(['/other/routes/1', '/apisix/routes', '/apisix/routes/1/x', '/apisix/unknown/1', '/apisix/consumers/john/x/y',
    '/apisix/secrets/aws', '/apisix/routes//1', '/apisix/data_plane/nodes/n1'])('ignores %s', (key) => {
    expect(parseResourceKey('/apisix', key)).toBeUndefined();
  });

  it('builds collection keys', () => {
    expect(collectionKey('/apisix', 'credentials', { consumer: 'john' })).toBe('/apisix/consumers/john/credentials');
    expect(collectionKey('/p', 'secrets', { manager: 'aws' })).toBe('/p/secrets/aws');
    expect(collectionKey('/p', 'routes')).toBe('/p/routes');
  });
});
