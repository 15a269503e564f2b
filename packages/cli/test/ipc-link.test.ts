import { fork } from 'node:child_process';
import { EventEmitter } from 'node:events';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ipcLink } from '../src/workers';

/**
 * The primary ↔ worker channel must survive a write to a process that is going away: node
 * reports such a write failure (EPIPE, channel closed) as an 'error' event on the Worker unless
 * send() has a callback, and an unhandled 'error' event would take the whole node down (seen
 * once in CI: a status push raced a worker's SIGTERM).
 */
describe('ipcLink', () => {
  it('hands send() a callback, so a failed write never becomes an error event', async () => {
    const ep = new EventEmitter() as EventEmitter & { send: (...args: unknown[]) => boolean };
    const errorEvents: unknown[] = [];
    ep.on('error', (e) => errorEvents.push(e));
    ep.send = (_msg, _handle, _options, callback) => {
      const err = Object.assign(new Error('write EPIPE'), { code: 'EPIPE' });
      // node's contract: with a callback the error goes there, without one it is emitted.
      if (typeof callback === 'function') setImmediate(() => (callback as (e: Error) => void)(err));
      else setImmediate(() => ep.emit('error', err));
      return false;
    };
    const link = ipcLink<{ t: string }, { t: string }>(ep, () => true);
    link.send({ t: 'portico:status' });
    await new Promise<void>((resolve) => setImmediate(() => setImmediate(resolve)));
    expect(errorEvents).toEqual([]);
  });

  it('sends nothing once the channel is disconnected', () => {
    const ep = new EventEmitter() as EventEmitter & { send: jest.Mock };
    ep.send = jest.fn();
    ipcLink(ep, () => false).send({ t: 'portico:status' });
    expect(ep.send).not.toHaveBeenCalled();
  });

  it('a real child that exits while messages are being sent: no error event, the exit is seen', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'portico-ipc-'));
    const script = path.join(dir, 'child.js');
    fs.writeFileSync(script, 'setTimeout(() => process.exit(0), 5);\n');
    let errorEvents = 0;
    let sent = 0;
    for (let round = 0; round < 10; round++) {
      const child = fork(script, [], { stdio: ['ignore', 'ignore', 'ignore', 'ipc'] });
      child.on('error', () => errorEvents++);
      const link = ipcLink<{ t: string; pad: string }, unknown>(child, () => child.connected);
      await new Promise<void>((resolve) => {
        const burst = () => {
          if (!child.connected) return;
          for (let i = 0; i < 50; i++, sent++) link.send({ t: 'portico:status', pad: 'x'.repeat(1000) });
          setImmediate(burst);
        };
        child.once('spawn', burst);
        child.once('exit', () => resolve());
      });
    }
    expect(sent).toBeGreaterThan(0);
    expect(errorEvents).toBe(0);
  });
});
