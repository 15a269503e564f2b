import { RemoteSecretResolver, SecretResolver, type EntryState } from '@portico/secrets';
import { captureLogger, ManualClock } from './helpers';

/**
 * RemoteSecretResolver (a proxy worker's view of the primary's cache) against a real primary
 * SecretResolver over `$env://` references. The channel is a direct call here; the IPC
 * transport is covered end to end by packages/cli/test/workers.test.ts.
 */
function pair(env: NodeJS.ProcessEnv, opts: { failChannel?: () => boolean } = {}) {
  const clock = new ManualClock();
  const primary = new SecretResolver({
    ttlSeconds: 10, negTtlSeconds: 5, maxEntries: 100, now: clock.now, logger: captureLogger().logger, env, random: () => 0.5,
  });
  const asked: string[] = [];
  const worker = new RemoteSecretResolver({
    async resolve(ref): Promise<EntryState | undefined> {
      asked.push(ref);
      if (opts.failChannel?.()) throw new Error('channel closed');
      await primary.resolve(ref);
      await primary.whenSettled(ref);
      return primary.inspect(ref);
    },
  }, { negTtlSeconds: 5, now: clock.now });
  // what the primary's WorkerHub does: push every change to the workers
  primary.onChange((ref) => worker.apply(ref, primary.inspect(ref)));
  const changes: string[] = [];
  worker.onChange((ref) => changes.push(ref));
  return { clock, primary, worker, asked, changes };
}

describe('RemoteSecretResolver', () => {
  it('asks the primary once for many concurrent lookups, then answers from its mirror', async () => {
    const { worker, asked } = pair({ KEY: 'v1' });
    expect(worker.peek('$env://KEY').state).toBe('missing');
    const values = await Promise.all(Array.from({ length: 50 }, () => worker.resolve('$env://KEY')));
    expect(new Set(values)).toEqual(new Set(['v1']));
    expect(asked).toEqual(['$env://KEY']);
    expect(worker.peek('$env://KEY')).toEqual({ state: 'fresh', value: 'v1' });
    expect(await worker.resolve('$env://KEY')).toBe('v1');
    expect(asked).toHaveLength(1);
  });

  it('serves a stale value while one refresh runs, and takes the primary\'s new deadline', async () => {
    const env: NodeJS.ProcessEnv = { KEY: 'v1' };
    const { worker, clock, asked, changes } = pair(env);
    await worker.resolve('$env://KEY');
    changes.length = 0; // the first value is a change too (as in the primary)
    env.KEY = 'v2';
    clock.advance(11);
    expect(worker.peek('$env://KEY')).toEqual({ state: 'stale', value: 'v1' });
    expect(await worker.resolve('$env://KEY')).toBe('v1'); // stale-while-revalidate
    worker.refreshIfStale('$env://KEY'); // already asking: no second question
    await worker.whenSettled('$env://KEY');
    expect(asked).toHaveLength(2);
    expect(worker.peek('$env://KEY')).toEqual({ state: 'fresh', value: 'v2' });
    expect(changes).toEqual(['$env://KEY']);
  });

  it('hears a change the primary found on its own (pushed), without asking', async () => {
    const env: NodeJS.ProcessEnv = { KEY: 'v1' };
    const { worker, primary, clock, asked, changes } = pair(env);
    await worker.resolve('$env://KEY');
    changes.length = 0;
    env.KEY = 'v2';
    clock.advance(11);
    await primary.resolve('$env://KEY'); // e.g. another worker triggered the refresh
    await primary.whenSettled('$env://KEY');
    expect(worker.peek('$env://KEY').value).toBe('v2');
    expect(changes).toEqual(['$env://KEY']);
    expect(asked).toHaveLength(1);
  });

  it('remembers a failure for neg_ttl instead of asking on every request', async () => {
    const { worker, clock, asked } = pair({});
    expect(await worker.resolve('$env://MISSING')).toBeUndefined();
    expect(worker.peek('$env://MISSING').state).toBe('failed');
    for (let i = 0; i < 20; i++) {
      expect(await worker.resolve('$env://MISSING')).toBeUndefined();
      worker.refreshIfStale('$env://MISSING');
    }
    expect(asked).toHaveLength(1);
    clock.advance(6);
    await worker.resolve('$env://MISSING');
    expect(asked).toHaveLength(2);
  });

  it('keeps its value when the channel fails, and waits neg_ttl before asking again', async () => {
    let broken = false;
    const { worker, clock, asked } = pair({ KEY: 'v1' }, { failChannel: () => broken });
    await worker.resolve('$env://KEY');
    broken = true;
    clock.advance(11);
    expect(await worker.resolve('$env://KEY')).toBe('v1');
    await worker.whenSettled('$env://KEY');
    for (let i = 0; i < 10; i++) worker.refreshIfStale('$env://KEY');
    expect(asked).toHaveLength(2);
    expect(worker.peek('$env://KEY').value).toBe('v1');
  });

  it('never asks about a malformed reference', async () => {
    const { worker, asked } = pair({});
    expect(await worker.resolve('$secret://nope')).toBeUndefined();
    worker.refreshIfStale('$secret://nope');
    expect(worker.peek('$secret://nope').state).toBe('failed');
    expect(asked).toEqual([]);
  });

  it('forgets a reference the primary dropped (provider reconfigured) and tells its listeners', async () => {
    const { worker, asked, changes } = pair({ KEY: 'v1' });
    await worker.resolve('$env://KEY');
    changes.length = 0;
    worker.apply('$env://KEY', undefined);
    expect(worker.peek('$env://KEY').state).toBe('missing');
    expect(changes).toEqual(['$env://KEY']);
    expect(await worker.resolve('$env://KEY')).toBe('v1');
    expect(asked).toHaveLength(2);
  });
});
