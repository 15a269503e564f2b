import { CompareFailedError, ConfigStore, KeyValue, collectionKey, parseResourceKey } from '@portico/core';
import { JsonBody } from './body';
import { checkDeleteGuards, checkDuplicateAuthKeys, checkReferences, ensureConsumerExists, parseStored } from './checks';
import { AdminError, badRequest, keyNotFound } from './errors';
import { formatGeneratedId } from './ids';
import { Target, itemKey, listPrefix, pathIsPlausible } from './resources';
import { PreparedWrite, isPlainObject, prepareWrite } from './validate';

/** What a handler answers; `revision` becomes `X-Config-Revision` (SPEC §10) on writes. */
export interface Reply {
  status: number;
  body: unknown;
  revision?: number;
}

export interface HandlerDeps {
  store: ConfigStore;
  /** Normalized key prefix (`/apisix`). */
  prefix: string;
  /** Unix seconds, for create_time/update_time; injectable for tests. */
  now?: () => number;
}

/** Compare-and-swap retries before a write gives up as contended (then 503, as a lost PATCH race). */
const MAX_WRITE_ATTEMPTS = 20;

/** APISIX's item shape in GET replies. */
function item(kv: KeyValue) {
  const parsed = parseStored(kv);
  // An unparseable value (written behind the admin API's back) is shown as it is stored.
  return { key: kv.key, value: parsed === undefined ? kv.value : parsed, createdIndex: kv.createRevision, modifiedIndex: kv.modRevision };
}

function createTimeOf(kv: KeyValue | undefined): number | undefined {
  const v = kv && parseStored(kv);
  return isPlainObject(v) && Number.isSafeInteger(v.create_time) ? (v.create_time as number) : undefined;
}

/**
 * The generic resource operations (SPEC §3.3–3.5), driven by the Target's ResourceDef.
 * Order on every write: all store-free validation, then store reads (existence, references,
 * duplicates), then one conditional write — so a rejected request never changes anything.
 */
export class ResourceHandlers {
  private readonly store: ConfigStore;
  private readonly prefix: string;
  private readonly now: () => number;
  /** Highest id this process handed out, so POST ids increase even between store revisions. */
  private lastGeneratedId = 0;

  constructor(deps: HandlerDeps) {
    this.store = deps.store;
    this.prefix = deps.prefix;
    this.now = deps.now ?? (() => Math.floor(Date.now() / 1000));
  }

  async get(t: Target): Promise<Reply> {
    if (t.id === undefined) return this.list(t);
    if (!pathIsPlausible(t)) throw keyNotFound();
    const kv = await this.store.get(itemKey(this.prefix, t, t.id));
    if (!kv) throw keyNotFound();
    return { status: 200, body: item(kv) };
  }

  /**
   * `{"list":[...],"total":N}`, ordered by createdIndex; an empty collection is an empty list
   * (Portico differs: APISIX can answer 404). Consumer lists leave credentials out.
   */
  private async list(t: Target): Promise<Reply> {
    if (t.extra.length > 0) throw keyNotFound();
    // A scope that cannot exist (credentials of an invalid username, an unknown manager) is empty.
    if (!pathIsPlausible(t)) return { status: 200, body: { list: [], total: 0 } };
    const { items } = await this.store.range(listPrefix(this.prefix, t));
    const mine = items
      .filter((kv) => {
        const ref = parseResourceKey(this.prefix, kv.key);
        return ref !== undefined && ref.resource === t.def.name;
      })
      .sort((a, b) => a.createRevision - b.createRevision || (a.key < b.key ? -1 : 1));
    return { status: 200, body: { list: mine.map(item), total: mine.length } };
  }

  async put(t: Target, body: JsonBody): Promise<Reply> {
    if (t.extra.length > 0) throw keyNotFound();
    const prepared = prepareWrite(t, body, 'PUT');
    const key = itemKey(this.prefix, t, prepared.id!);
    await this.storeChecks(t, prepared, key);
    const { revision, created, stored } = await this.writeKeepingCreateTime(key, prepared.value);
    return { status: created ? 201 : 200, body: { key, value: stored }, revision };
  }

  async post(t: Target, body: JsonBody): Promise<Reply> {
    if (t.extra.length > 0) throw keyNotFound();
    const prepared = prepareWrite(t, body, 'POST');
    await this.storeChecks(t, prepared, undefined);
    for (let attempt = 1; ; attempt++) {
      const id = formatGeneratedId(await this.nextIdCandidate(t));
      const key = itemKey(this.prefix, t, id);
      const now = this.now();
      const stored = { ...prepared.value, id, create_time: now, update_time: now };
      try {
        // Create-only: two admin processes that pick the same id cannot overwrite each other.
        const { revision } = await this.store.put(key, JSON.stringify(stored), { ifModRevision: 0 });
        return { status: 201, body: { key, value: stored }, revision };
      } catch (err) {
        if (!(err instanceof CompareFailedError) || attempt >= MAX_WRITE_ATTEMPTS) throw contended(err);
      }
    }
  }

  async delete(t: Target, force: boolean): Promise<Reply> {
    if (t.def.name === 'secrets' && t.manager === undefined) throw badRequest('missing secret manager');
    if (t.id === undefined) throw badRequest(`missing ${t.def.kind} id`);
    if (!pathIsPlausible(t)) throw keyNotFound();
    const key = itemKey(this.prefix, t, t.id);
    if (!force) await checkDeleteGuards(this.store, this.prefix, t.def, t.id);
    // A consumer's credentials go in the same transaction, so none is ever left orphaned.
    const { revision, deleted } = await this.store.delete(key, { withChildren: t.def.deleteWithChildren === true });
    if (deleted === 0) throw keyNotFound();
    return { status: 200, body: { deleted: '1', key }, revision };
  }

  private async storeChecks(t: Target, prepared: PreparedWrite, key: string | undefined): Promise<void> {
    if (t.def.name === 'credentials') await ensureConsumerExists(this.store, this.prefix, t.consumer);
    await checkReferences(this.store, this.prefix, t.def, prepared.value);
    if (key && (t.def.name === 'consumers' || t.def.name === 'credentials')) {
      await checkDuplicateAuthKeys(this.store, this.prefix, key, prepared.value);
    }
  }

  /**
   * PUT replaces the value but keeps `create_time` (SPEC §3.3). The previous value is read and
   * the write is conditional on its mod revision, so a concurrent writer cannot make us lose
   * the original create_time or report 201 for a key that already existed.
   */
  private async writeKeepingCreateTime(key: string, value: Record<string, unknown>) {
    for (let attempt = 1; ; attempt++) {
      const prev = await this.store.get(key);
      const now = this.now();
      const stored = { ...value, create_time: createTimeOf(prev) ?? now, update_time: now };
      try {
        const { revision } = await this.store.put(key, JSON.stringify(stored), { ifModRevision: prev?.modRevision ?? 0 });
        return { revision, created: prev === undefined, stored };
      } catch (err) {
        if (!(err instanceof CompareFailedError) || attempt >= MAX_WRITE_ATTEMPTS) throw contended(err);
      }
    }
  }

  /**
   * APISIX derives POST ids from the store revision. The current revision comes from a range
   * that matches no key (`#` is never part of an id), so it costs one cheap round trip; taking
   * the max with the last id handed out keeps ids increasing across create-only retries.
   */
  private async nextIdCandidate(t: Target): Promise<number> {
    const { revision } = await this.store.range(`${collectionKey(this.prefix, t.def.name)}/#/`);
    this.lastGeneratedId = Math.max(revision + 1, this.lastGeneratedId + 1);
    return this.lastGeneratedId;
  }
}

function contended(err: unknown): unknown {
  return err instanceof CompareFailedError ? new AdminError(503, { error_msg: 'value changed before overwritten' }) : err;
}
