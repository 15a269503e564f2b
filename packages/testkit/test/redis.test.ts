import { redisCommands, startRedis, startRedisCluster } from '../src/redis';
import { startTcpProxy } from '../src/tcp-proxy';

/** testkit redis.ts: the Redis servers the rate-limit tests run against. */
describe('startRedis', () => {
  it('answers on its port, loses its data on kill + restart, and is gone after stop', async () => {
    const r = await startRedis({ password: 'pw-test' });
    try {
      expect(await r.command('SET', 'k', 'v')).toBe('OK');
      expect(await r.command('GET', 'k')).toBe('v');
      // the password is required
      const [noAuth] = await redisCommands(r.port, [['GET', 'k']]);
      expect(noAuth).toBeInstanceOf(Error);
      await r.kill();
      expect(r.pid).toBeUndefined();
      await expect(redisCommands(r.port, [['PING']], 500)).rejects.toThrow();
      await r.restart();
      expect(await r.command('GET', 'k')).toBeNull(); // no persistence
    } finally {
      await r.stop();
    }
    await expect(redisCommands(r.port, [['PING']], 500)).rejects.toThrow();
  });

  it('relays through a tcp proxy that can add delay', async () => {
    const r = await startRedis();
    const proxy = await startTcpProxy(r.port, '127.0.0.1', { delayMs: 150 });
    try {
      let t0 = Date.now();
      expect(await redisCommands(proxy.port, [['PING']])).toEqual(['PONG']);
      expect(Date.now() - t0).toBeGreaterThanOrEqual(290); // both directions
      proxy.setDelay(0);
      t0 = Date.now();
      expect(await redisCommands(proxy.port, [['PING'], ['ECHO', 'x']])).toEqual(['PONG', 'x']);
      expect(Date.now() - t0).toBeLessThan(280);
    } finally {
      await proxy.close();
      await r.stop();
    }
  });
});

describe('startRedisCluster', () => {
  it('forms a 3-master cluster that serves every slot', async () => {
    const c = await startRedisCluster();
    try {
      expect(c.addresses).toHaveLength(3);
      expect(await c.ready()).toBe(true);
      const slots = (await c.nodes[0].command('CLUSTER', 'SLOTS')) as Array<[number, number, [string, number]]>;
      expect(slots).toHaveLength(3);
      expect(slots.reduce((n, s) => n + (s[1] - s[0] + 1), 0)).toBe(16384);
      // every master announces the loopback address
      for (const s of slots) expect(s[2][0]).toBe('127.0.0.1');
    } finally {
      await c.stop();
    }
  });
});
