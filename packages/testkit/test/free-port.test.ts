import { freePorts } from '../src/free-port';

/** testkit free-port.ts: ports for servers the caller binds later. */
describe('freePorts', () => {
  it('never hands a port out twice in a while, also to calls running at once', async () => {
    const [a, b, c] = await Promise.all([freePorts(40), freePorts(40), freePorts(40)]);
    const d = await freePorts(40);
    const all = [...a, ...b, ...c, ...d];
    expect(all).toHaveLength(160);
    expect(new Set(all).size).toBe(160);
  });
});
