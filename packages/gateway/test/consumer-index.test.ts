import './helpers/quiet-logs';
import { ConsumerIndex } from '../src/auth/consumer-index';
import { StubSecrets } from './helpers/stub-secrets';

/** The per-plugin identity tables behind key-auth, basic-auth and jwt-auth. */
describe('ConsumerIndex', () => {
  const env: NodeJS.ProcessEnv = { SHARED: 'from-env' };

  it('a resolved reference is a plain Map hit: synchronous, same owner object on every lookup', async () => {
    const index = new ConsumerIndex({ resolver: new StubSecrets().resolver({ env }) });
    index.setConsumer('p', { username: 'p', plugins: { 'key-auth': { key: 'plain' } } });
    index.setConsumer('s', { username: 's', plugins: { 'key-auth': { key: '$env://SHARED' } } });
    expect(await index.lookup('warm-miss')).toBeUndefined(); // resolves the cold reference
    const hit = index.lookup('from-env');
    expect(hit).not.toBeInstanceOf(Promise);
    expect((hit as { username: string }).username).toBe('s');
    expect(index.lookup('from-env')).toBe(hit);
    expect(index.lookup('$env://SHARED')).toBeUndefined();
    index.close();
  });

  it('duplicates: a literal beats a reference with the same value; removing the winner promotes the next claimant', async () => {
    const index = new ConsumerIndex({ resolver: new StubSecrets().resolver({ env }) });
    index.setConsumer('ref', { username: 'ref', plugins: { 'key-auth': { key: '$env://SHARED' } } });
    await index.lookup('warm-miss');
    index.setConsumer('lit', { username: 'lit', plugins: { 'key-auth': { key: 'from-env' } } });
    expect((index.lookup('from-env') as { username: string }).username).toBe('lit');
    index.setConsumer('lit', undefined);
    expect((index.lookup('from-env') as { username: string }).username).toBe('ref');
    index.setConsumer('ref', { username: 'ref', plugins: { 'key-auth': { key: 'other' } } });
    expect(index.lookup('from-env')).toBeUndefined();
    expect((index.lookup('other') as { username: string }).username).toBe('ref');
    index.close();
  });

  it('keeps one table per auth plugin, credentials included, and only while the consumer exists', () => {
    const index = new ConsumerIndex();
    index.setCredential('u', 'c1', { plugins: { 'basic-auth': { username: 'bu', password: 'pw' } } });
    expect(index.lookup('bu', 'basic-auth')).toBeUndefined(); // no consumer yet
    index.setConsumer('u', { username: 'u', plugins: { 'jwt-auth': { key: 'jk', secret: 's' } } });
    const owner = index.lookup('bu', 'basic-auth') as { username: string; credentialId?: string; conf?: Record<string, unknown> };
    expect(owner).toMatchObject({ username: 'u', credentialId: 'c1', conf: { password: 'pw' } });
    expect((index.lookup('jk', 'jwt-auth') as { username: string }).username).toBe('u');
    expect(index.lookup('jk')).toBeUndefined(); // key-auth by default: not a key-auth key
    expect(index.lookup('bu', 'no-such-plugin')).toBeUndefined();
    index.setConsumer('u', undefined);
    expect(index.lookup('bu', 'basic-auth')).toBeUndefined();
  });
});
