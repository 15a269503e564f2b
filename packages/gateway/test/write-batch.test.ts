import net from 'node:net';
import { waitFor } from '@portico/testkit';
import { holdWrites } from '../src/h1/write-batch';

/** h1/write-batch.ts: output written during a batch of I/O callbacks leaves together, after them. */
describe('holdWrites', () => {
  let server: net.Server;
  let client: net.Socket;
  let peer: net.Socket;
  let received = '';

  beforeEach(async () => {
    received = '';
    server = net.createServer();
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const accepted = new Promise<net.Socket>((r) => server.once('connection', r));
    client = net.connect((server.address() as net.AddressInfo).port, '127.0.0.1');
    peer = await accepted;
    peer.on('data', (d) => (received += d.toString('latin1')));
    await new Promise<void>((r) => (client.connecting ? client.once('connect', () => r()) : r()));
  });

  afterEach(async () => {
    client.destroy();
    peer.destroy();
    await new Promise<void>((r) => server.close(() => r()));
  });

  it('keeps writes in the process until the check phase, then sends them in one go', async () => {
    holdWrites(client);
    client.write('a');
    holdWrites(client); // a second hold in the same batch corks nothing more
    client.write('b');
    expect(client.writableLength).toBe(2);
    expect(client.writableCorked).toBe(1);
    await new Promise<void>((r) => setImmediate(r));
    expect(client.writableCorked).toBe(0);
    expect(client.writableLength).toBe(0);
    await waitFor(() => received === 'ab', { what: 'both writes at the peer' });
  });

  it('holds again in the next batch', async () => {
    holdWrites(client);
    client.write('1');
    await new Promise<void>((r) => setImmediate(r));
    holdWrites(client);
    client.write('2');
    expect(client.writableCorked).toBe(1);
    await new Promise<void>((r) => setImmediate(r));
    expect(client.writableCorked).toBe(0);
    await waitFor(() => received === '12', { what: 'both batches at the peer' });
  });
});
