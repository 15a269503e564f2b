import { createHash } from 'node:crypto';
import type { RequestContext } from '../../server/request-context';
import { resolveVars } from '../../plugins/vars';
import type { Target } from '../upstream';
import type { Balancer } from './types';

/** Ring points per unit of weight (ketama uses 160 per server of weight 1). */
const POINTS_PER_WEIGHT = 160;

export type HashOn = 'vars' | 'header' | 'cookie' | 'consumer' | 'vars_combinations';

/** FNV-1a followed by murmur3's finaliser: cheap per request, and well spread on the ring. */
export function hash32(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

/**
 * chash: a consistent hash ring (ketama). Each node owns weight × 160 points placed by the MD5
 * of `host:port-i`, so a point depends only on its own node: adding or removing a node moves
 * only the keys that land on (or leave) that node's points, about 1/n of them. A request's key
 * is hashed onto the ring and served by the next point clockwise; retries walk on to the next
 * point of a node not yet tried.
 */
export class ConsistentHashBalancer implements Balancer {
  /** Sorted ring positions and, at the same index, the target owning each. */
  private readonly points: Uint32Array;
  private readonly owners: Target[];

  constructor(readonly targets: readonly Target[], private readonly hashOn: HashOn = 'vars', private readonly key = 'remote_addr') {
    const ring: Array<[number, Target]> = [];
    for (const t of targets) {
      const count = Math.max(1, Math.round(t.node.weight * POINTS_PER_WEIGHT));
      // one MD5 digest yields four 32-bit points
      for (let i = 0; i < count; i += 4) {
        const d = createHash('md5').update(`${t.node.host}:${t.node.port}-${i / 4}`).digest();
        for (let j = 0; j < 4 && i + j < count; j++) ring.push([d.readUInt32LE(j * 4), t]);
      }
    }
    ring.sort((a, b) => a[0] - b[0]);
    this.points = Uint32Array.from(ring, (p) => p[0]);
    this.owners = ring.map((p) => p[1]);
  }

  /** The value hashed for this request (APISIX falls back to the client address when it is absent). */
  keyOf(ctx: RequestContext): string {
    let v: string | undefined;
    switch (this.hashOn) {
      case 'header': v = ctx.header(this.key); break;
      case 'cookie': v = ctx.lookupVar(`cookie_${this.key}`); break;
      case 'consumer': v = ctx.consumer?.username; break;
      case 'vars_combinations': v = resolveVars(this.key, ctx); break;
      default: v = ctx.lookupVar(this.key);
    }
    return v || ctx.remoteAddr;
  }

  pick(exclude: ReadonlySet<Target> | undefined, ctx: RequestContext | undefined): Target | undefined {
    return this.pickKey(ctx ? this.keyOf(ctx) : '', exclude);
  }

  /** The target for a key, skipping `exclude`. */
  pickKey(key: string, exclude?: ReadonlySet<Target>): Target | undefined {
    const n = this.points.length;
    if (n === 0) return undefined;
    const start = lowerBound(this.points, hash32(key)) % n;
    for (let k = 0; k < n; k++) {
      const t = this.owners[(start + k) % n];
      if (!exclude?.has(t)) return t;
    }
    return undefined;
  }
}

function lowerBound(a: Uint32Array, x: number): number {
  let lo = 0;
  let hi = a.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (a[mid] < x) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}
