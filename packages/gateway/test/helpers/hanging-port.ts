import { spawn } from 'node:child_process';
import net from 'node:net';
import { waitFor } from '@portico/testkit';

/**
 * A loopback port where a connection attempt hangs, as with a node that drops SYNs: a child
 * process listens with a backlog of 1 and never accepts (its event loop is blocked), and two
 * connections fill its accept queue, so Linux drops every later SYN. The only way to make a
 * connect time out on loopback.
 */
export async function startHangingPort(): Promise<{ port: number; close: () => void }> {
  const src = `const fs = require('fs');
    const s = require('net').createServer();
    s.listen({ port: 0, host: '127.0.0.1', backlog: 1 }, () => {
      fs.writeSync(1, s.address().port + '\\n');
      Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 60000);
    });`;
  const child = spawn(process.execPath, ['-e', src], { stdio: ['ignore', 'pipe', 'inherit'] });
  const port = await new Promise<number>((resolve, reject) => {
    child.once('error', reject);
    child.stdout!.once('data', (d) => resolve(Number(String(d).trim())));
  });
  const fillers: net.Socket[] = [];
  let connected = 0;
  for (let i = 0; i < 3; i++) {
    const s = net.connect(port, '127.0.0.1');
    s.on('connect', () => connected++);
    s.on('error', () => undefined);
    fillers.push(s);
  }
  await waitFor(() => connected >= 2, { timeoutMs: 5000, what: 'the accept queue filled' });
  return {
    port,
    close: () => {
      for (const s of fillers) s.destroy();
      child.kill('SIGKILL');
    },
  };
}
