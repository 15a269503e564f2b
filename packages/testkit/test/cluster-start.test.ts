import * as fs from 'node:fs';
import { startPorticoCluster } from '../src/cluster';

/** The command lines of the running processes that mention `text`. */
function processesMentioning(text: string): string[] {
  const found: string[] = [];
  for (const pid of fs.readdirSync('/proc').filter((d) => /^\d+$/.test(d))) {
    let cmdline: string;
    try { cmdline = fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').replace(/\0/g, ' '); } catch { continue; } // gone meanwhile
    if (cmdline.includes(text)) found.push(`${pid}: ${cmdline}`);
  }
  return found;
}

/** testkit cluster.ts: the topology tests start, and what is left when part of it fails to start. */
describe('startPorticoCluster', () => {
  it('stops the etcd members and the nodes that did start when one node fails to', async () => {
    // (a name no other test uses: every process of this cluster has it in its data dir's path)
    const name = `failstart${process.pid}`;
    const start = startPorticoCluster({
      name, etcdMembers: 1, dataPlanes: 2,
      // the second data plane's config is refused at start, so it exits while the others come up
      dataPlaneOptions: (i) => (i === 1 ? { extraConfig: { apisix: { node_listen: 'not a list' } } } : {}),
    });
    await expect(start).rejects.toThrow(`portico ${name}-dp2 exited during start-up`);
    // The control plane and the first data plane were ready (their start resolved) before
    // the cluster gave up; none of them, nor etcd, may outlive the failed start.
    expect(processesMentioning(name)).toEqual([]);
  });
});
