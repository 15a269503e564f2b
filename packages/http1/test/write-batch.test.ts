import { atBatchEnd } from '../src/write-batch';

/**
 * h1/write-batch.ts: what the connections write during a batch of I/O callbacks is sent from
 * here, after them. (That the heads and bodies reach the peer in order is pinned by the
 * h1-server and h1-pool suites, over real sockets.)
 */
describe('atBatchEnd', () => {
  it('runs its callbacks in order in the check phase, not during the current callback', async () => {
    const ran: string[] = [];
    atBatchEnd(() => ran.push('a'));
    atBatchEnd(() => ran.push('b'));
    expect(ran).toEqual([]);
    await new Promise<void>((r) => setImmediate(r));
    expect(ran).toEqual(['a', 'b']);
  });

  it('leaves a callback added while flushing for the next batch', async () => {
    const ran: string[] = [];
    atBatchEnd(() => {
      ran.push('first');
      atBatchEnd(() => ran.push('next batch'));
    });
    await new Promise<void>((r) => setImmediate(r));
    expect(ran).toEqual(['first']);
    await new Promise<void>((r) => setImmediate(r));
    expect(ran).toEqual(['first', 'next batch']);
  });
});
