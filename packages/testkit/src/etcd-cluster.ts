import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { EtcdInstance, EtcdProcess, etcdGateway } from './etcd';
import { freePorts } from './free-port';
import { waitFor } from './wait-for';

/**
 * A throwaway multi-member etcd cluster on loopback (default 3 members), for failover tests
 * and `make cluster`. Each member is an EtcdProcess: kill() one to crash it, restart() to bring
 * it back with its data. Members are started together because each waits for a quorum.
 */

export interface StartEtcdClusterOptions {
  /** Default 3. */
  size?: number;
  /** Member names are `<name>-0`, `<name>-1`, ...; default `portico-cluster`. */
  name?: string;
  extraArgs?: string[];
  startTimeoutMs?: number;
  binary?: string;
  /** Parent of the members' data dirs; default a fresh dir under os.tmpdir(). */
  baseDir?: string;
}

export interface EtcdCluster {
  readonly members: readonly EtcdProcess[];
  /** Every member's client URL, for `deployment.etcd.host`. */
  readonly endpoints: string[];
  readonly baseDir: string;
  /** The member that is leader now (asks the running members; waits for an election). */
  leader(timeoutMs?: number): Promise<EtcdProcess>;
  /** SIGKILL every member (data kept). */
  killAll(): Promise<void>;
  /** Start every stopped member again, together, and wait until each is healthy. */
  restartAll(): Promise<void>;
  /** Stop every member and remove the data. Idempotent. */
  stop(): Promise<void>;
}

interface StatusReply {
  header?: { member_id?: string };
  leader?: string;
}

async function memberStatus(m: EtcdProcess): Promise<StatusReply | undefined> {
  if (m.pid === undefined) return undefined;
  try {
    return (await etcdGateway(m.endpoint, '/v3/maintenance/status', {})) as StatusReply;
  } catch {
    return undefined;
  }
}

export async function startEtcdCluster(opts: StartEtcdClusterOptions = {}): Promise<EtcdCluster> {
  const size = opts.size ?? 3;
  const name = opts.name ?? 'portico-cluster';
  const binary = opts.binary ?? process.env.ETCD_BIN ?? 'etcd';
  const baseDir = opts.baseDir ?? fs.mkdtempSync(path.join(os.tmpdir(), `${name}-`));
  const ports = await freePorts(size * 2);
  const names = Array.from({ length: size }, (_, i) => `${name}-${i}`);
  const initialCluster = names.map((n, i) => `${n}=http://127.0.0.1:${ports[2 * i + 1]}`).join(',');
  const token = `${name}-${ports[0]}`;
  const members = names.map((n, i) => {
    const dir = path.join(baseDir, n);
    fs.mkdirSync(dir, { recursive: true });
    return new EtcdInstance(n, ports[2 * i], ports[2 * i + 1], dir, binary, opts.extraArgs ?? [],
      opts.startTimeoutMs ?? 30_000, { initialCluster, token });
  });
  const stopAll = async () => {
    await Promise.all(members.map((m) => m.stop()));
    fs.rmSync(baseDir, { recursive: true, force: true });
  };
  try {
    await Promise.all(members.map((m) => m.start()));
  } catch (err) {
    await stopAll();
    throw err;
  }
  return {
    members,
    endpoints: members.map((m) => m.endpoint),
    baseDir,
    async leader(timeoutMs = 15_000) {
      return waitFor(async () => {
        for (const m of members) {
          const s = await memberStatus(m);
          if (s?.leader && s.header?.member_id === s.leader) return m;
        }
        return undefined;
      }, { timeoutMs, intervalMs: 50, what: 'an etcd leader' });
    },
    async killAll() {
      await Promise.all(members.map((m) => m.kill()));
    },
    async restartAll() {
      await Promise.all(members.filter((m) => m.pid === undefined).map((m) => m.restart()));
    },
    stop: stopAll,
  };
}
