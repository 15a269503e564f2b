import { CompareFailedError, ConfigStore, FieldCipher, KeyValue, Logger, collectionKey, componentLogger, isPlainObject, jsonTypeName, parseResourceKey } from '@portico/core';
import { JsonBody } from './body';
import { checkDeleteGuards, checkDuplicateAuthKeys, checkReferences, ensureConsumerExists } from './checks';
import { AdminError, badRequest, keyNotFound } from './errors';
import { formatGeneratedId } from './ids';
import { QueryParams, applyListQuery, parseListQuery } from './list-query';
import { mergePatch, patchAtPath } from './patch';
import { Target, itemKey, itemOf, listPrefix, pathIsPlausible } from './resources';
import { StoredValues, hideFields, parseStored } from './stored-values';
import { PreparedWrite, missingId, preparePatched, prepareWrite } from './validate';

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
  /** Field encryption (SPEC §5.6); absent: values are stored as sent. */
  cipher?: FieldCipher;
  logger?: Logger;
}

/** How a read is shown. */
export interface ReadOptions {
  /** Sensitive fields masked (SPEC §12: what a viewer reads). */
  masked?: boolean;
}

/** Compare-and-swap retries before a PUT/POST gives up as contended (then 503, as a lost PATCH race). */
const MAX_WRITE_ATTEMPTS = 20;

/** The reply to a lost compare-and-swap (APISIX `core.etcd.atomic_set`). */
function contended(err: unknown): unknown {
  return err instanceof CompareFailedError ? new AdminError(503, { error_msg: 'value changed before overwritten' }) : err;
}

function createTimeOf(value: unknown): number | undefined {
  return isPlainObject(value) && Number.isSafeInteger(value.create_time) ? (value.create_time as number) : undefined;
}

/**
 * The generic resource operations (SPEC §3.3–3.5), driven by the Target's ResourceDef.
 * Order on every write: all store-free validation, then store reads (existence, references,
 * duplicates), then one conditional write — so a rejected request never changes anything.
 */
export class ResourceHandlers {
  /** Also read by the cluster endpoint, which shares the handlers' store and prefix. */
  readonly store: ConfigStore;
  readonly prefix: string;
  private readonly now: () => number;
  private readonly values: StoredValues;
  /** Highest id this process handed out, so POST ids increase even between store revisions. */
  private lastGeneratedId = 0;

  constructor(deps: HandlerDeps) {
    this.store = deps.store;
    this.prefix = deps.prefix;
    this.now = deps.now ?? (() => Math.floor(Date.now() / 1000));
    this.values = new StoredValues(deps.cipher, deps.logger ?? componentLogger('admin'));
  }

  /**
   * `query` matters to lists only (paging, filters); reading one item ignores it. `masked`:
   * sensitive fields are replaced by a mask (a viewer's read), before any filter sees them.
   */
  async get(t: Target, query: QueryParams, opts: ReadOptions = {}): Promise<Reply> {
    if (t.id === undefined) return this.list(t, query, opts);
    if (!pathIsPlausible(t)) throw keyNotFound();
    const kv = await this.store.get(itemKey(this.prefix, t, t.id));
    if (!kv) throw keyNotFound();
    return { status: 200, body: this.item(t, kv, opts) };
  }

  /**
   * `{"list":[...],"total":N}`, ordered by createdIndex, filtered and paged (SPEC §3.4); an
   * empty collection is an empty list (Portico differs: APISIX can answer 404). Consumer lists
   * leave credentials out.
   */
  private async list(t: Target, params: QueryParams, opts: ReadOptions): Promise<Reply> {
    if (t.extra.length > 0) throw keyNotFound();
    const query = parseListQuery(params);
    // A scope that cannot exist (credentials of an invalid username, an unknown manager) is empty.
    if (!pathIsPlausible(t)) return { status: 200, body: applyListQuery([], query) };
    const { items } = await this.store.range(listPrefix(this.prefix, t));
    const mine = items
      .filter((kv) => {
        const ref = parseResourceKey(this.prefix, kv.key);
        return ref !== undefined && ref.resource === t.def.name;
      })
      .sort((a, b) => a.createRevision - b.createRevision || (a.key < b.key ? -1 : 1));
    return { status: 200, body: applyListQuery(mine.map((kv) => this.item(t, kv, opts)), query) };
  }

  /** APISIX's item shape in GET replies. */
  private item(t: Target, kv: KeyValue, opts: ReadOptions) {
    return { key: kv.key, value: this.values.forReply(t.def, kv, opts.masked === true), createdIndex: kv.createRevision, modifiedIndex: kv.modRevision };
  }

  async put(t: Target, body: JsonBody): Promise<Reply> {
    if (t.extra.length > 0) throw keyNotFound();
    const prepared = prepareWrite(t, body, 'PUT');
    const key = itemKey(this.prefix, t, prepared.id!);
    await this.storeChecks(t, prepared, key);
    const { revision, created, stored } = await this.writeKeepingCreateTime(t, key, prepared.value);
    return { status: created ? 201 : 200, body: { key, value: hideFields(t.def, stored) }, revision };
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
        const { revision } = await this.store.put(key, this.values.encode(t.def.name, stored), { ifModRevision: 0 });
        return { status: 201, body: { key, value: hideFields(t.def, stored) }, revision };
      } catch (err) {
        if (!(err instanceof CompareFailedError) || attempt >= MAX_WRITE_ATTEMPTS) throw contended(err);
      }
    }
  }

  /**
   * PATCH (SPEC §3.3): a merge patch of the item, or — with a sub-path — a new value for one
   * field. The result is validated like a PUT and written only if the item is still at the mod
   * revision it was read at. No retry: a concurrent writer may have changed what the client
   * meant to patch, so a lost race is 503 `value changed before overwritten` (as APISIX) and the
   * client decides.
   */
  async patch(t: Target, body: JsonBody): Promise<Reply> {
    // APISIX reads the manager and the id of a secret together: either missing is "no secret id".
    if (t.def.name === 'secrets' && (t.manager === undefined || t.id === undefined)) throw badRequest('no secret id');
    if (t.id === undefined) throw badRequest(missingId(t));
    if (!body.present) throw badRequest('missing new configuration');
    const subPath = t.extra;
    if (subPath.length === 0 && !isPlainObject(body.value)) {
      throw badRequest(`invalid configuration: wrong type: expected object, got ${jsonTypeName(body.value)}`);
    }
    const item = itemOf(t);
    if (!pathIsPlausible(item)) throw keyNotFound();
    const key = itemKey(this.prefix, item, t.id);
    const prev = await this.store.get(key);
    if (!prev) throw keyNotFound();
    const current = this.values.forUpdate(t.def.name, prev);
    const merged = subPath.length > 0 ? patchAtPath(current, subPath, body.value) : (mergePatch(current, body.value) as Record<string, unknown>);
    const prepared = preparePatched(item, merged);
    await this.storeChecks(item, prepared, key);
    const now = this.now();
    const stored = { ...prepared.value, create_time: createTimeOf(current) ?? now, update_time: now };
    try {
      const { revision } = await this.store.put(key, this.values.encode(t.def.name, stored), { ifModRevision: prev.modRevision });
      return { status: 200, body: { key, value: hideFields(t.def, stored) }, revision };
    } catch (err) {
      throw contended(err);
    }
  }

  async delete(t: Target, force: boolean): Promise<Reply> {
    if (t.def.name === 'secrets' && t.manager === undefined) throw badRequest('missing secret manager');
    if (t.id === undefined) throw badRequest(missingId(t));
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
      await checkDuplicateAuthKeys(this.store, this.prefix, this.values, key, prepared.value);
    }
  }

  /**
   * PUT replaces the value but keeps `create_time` (SPEC §3.3). The previous value is read and
   * the write is conditional on its mod revision, so a concurrent writer cannot make us lose
   * the original create_time or report 201 for a key that already existed. Retrying is safe
   * here, unlike for PATCH: a PUT does not depend on the value it replaces.
   */
  private async writeKeepingCreateTime(t: Target, key: string, value: Record<string, unknown>) {
    for (let attempt = 1; ; attempt++) {
      const prev = await this.store.get(key);
      const now = this.now();
      const stored = { ...value, create_time: createTimeOf(prev && parseStored(prev)) ?? now, update_time: now };
      try {
        const { revision } = await this.store.put(key, this.values.encode(t.def.name, stored), { ifModRevision: prev?.modRevision ?? 0 });
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
