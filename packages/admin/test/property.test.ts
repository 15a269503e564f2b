import './helpers/quiet-logs';
import http from 'node:http';
import fc from 'fast-check';
import { FieldCipher, decryptFields, parseResourceKey } from '@portico/core';
import { ADMIN_KEY, Harness, startHarness } from './helpers/admin-harness';
import { applyMergePatch, setAtPath, without } from './helpers/json-model';
import { recordingLogger } from './helpers/recording-logger';
import { AdminRequest, Shape, adminRequest, collectionPath } from './helpers/request-arbitraries';

/**
 * Property: thousands of random and malformed requests — broken JSON, wrong types,
 * huge and deep bodies, odd ids, `..%2F` and other path tricks, unicode, unsupported verbs —
 * get no 5xx and never crash the server; and the store ends up holding exactly what the
 * accepted requests wrote. "What they wrote" is predicted by an oracle in this file from the
 * request alone (merge patches included), not read back from the replies, and every accepted
 * reply is checked against that prediction. Runs on the embedded store with encryption at rest
 * on, so the final comparison also proves every stored secret decrypts to what was sent.
 */

const RUNS = 10;
const REQUESTS_PER_RUN = 500;
const HIDDEN: Record<string, string[]> = { ssls: ['key', 'keys'] };

interface Reply {
  status: number;
  text: string;
  json: any;
}

interface Entry {
  value: Record<string, unknown>;
  createTime: number;
}

function decode(segment: string): string {
  try {
    return decodeURIComponent(segment);
  } catch {
    return segment;
  }
}

/** JSON's view of a value (`-0` is `0`, key order irrelevant to toEqual). */
const normal = (v: unknown) => JSON.parse(JSON.stringify(v));
const stripTimes = (v: Record<string, unknown>) => without(v, ['create_time', 'update_time']);

/** Store key of the collection a structured request names, decoded as the server decodes it. */
function collectionKey(shape: Shape): string {
  if (shape.res === 'credentials') return `/apisix/consumers/${decode(shape.consumerSeg)}/credentials`;
  if (shape.res === 'secrets') return `/apisix/secrets/${decode(shape.managerSeg)}`;
  return `/apisix/${collectionPath(shape)}`;
}

/**
 * What the store should hold, built only from requests the server accepted, predicted from
 * the request itself. Every method throws (failing the property) when a reply disagrees.
 */
class Oracle {
  readonly entries = new Map<string, Entry>();
  private lastPostId = '';
  /** Accepted writes, by method, across all runs. */
  readonly accepted = new Map<string, number>();

  reset(): void {
    this.entries.clear();
    this.lastPostId = '';
  }

  /** Checks a reply to a structured request against the model, and applies accepted writes. */
  observe(req: AdminRequest, r: Reply): void {
    const shape = req.shape!;
    const coll = collectionKey(shape);
    const hidden = HIDDEN[shape.res] ?? [];
    const byUsername = shape.res === 'consumers';
    // A trailing slash names the collection itself.
    const pathId = req.idSeg === undefined || (req.idSeg === '' && !req.subPath) ? undefined : decode(req.idSeg);
    const ok = r.status >= 200 && r.status < 300;
    const expectShown = (reply: unknown, expected: Record<string, unknown>) =>
      expect(normal(stripTimes(reply as Record<string, unknown>))).toEqual(normal(without(expected, hidden)));

    if (req.method === 'GET' && pathId !== undefined && !req.subPath && r.status !== 401) {
      const entry = this.entries.get(`${coll}/${pathId}`);
      if (r.status === 200) expectShown(r.json.value, entry!.value);
      else expect([r.status, r.json, entry]).toEqual([404, { message: 'Key not found' }, undefined]);
      return;
    }
    if (req.method === 'GET' && pathId === undefined && req.query === '' && r.status === 200) {
      const inColl = [...this.entries.keys()].filter((k) => k.startsWith(`${coll}/`) && !k.slice(coll.length + 1).includes('/'));
      expect([coll, r.json.total]).toEqual([coll, inColl.length]);
      return;
    }
    if (!ok || !['PUT', 'POST', 'PATCH', 'DELETE'].includes(req.method)) return;
    this.accepted.set(req.method, (this.accepted.get(req.method) ?? 0) + 1);
    const now = Math.floor(Date.now() / 1000);

    if (req.method === 'DELETE') {
      const key = `${coll}/${pathId}`;
      expect([r.json, this.entries.has(key)]).toEqual([{ deleted: '1', key }, true]);
      this.entries.delete(key);
      if (byUsername) for (const k of [...this.entries.keys()]) if (k.startsWith(`${key}/`)) this.entries.delete(k);
      return;
    }

    if (req.method === 'PATCH') {
      const key = `${coll}/${pathId}`;
      const old = this.entries.get(key);
      expect([key, r.status, old !== undefined]).toEqual([key, 200, true]);
      const patch = JSON.parse(req.body!);
      let next = req.subPath ? setAtPath(old!.value, req.subPath.join('/'), patch) : (applyMergePatch(old!.value, patch) as Record<string, unknown>);
      next = stripTimes(next);
      next.id ??= pathId;
      // APISIX's stored form of a secret manager's id: `<manager>/<id>`.
      if (shape.res === 'secrets') next.id = `${decode(shape.managerSeg)}/${pathId}`;
      expect(r.json.key).toBe(key);
      expectShown(r.json.value, next);
      expect(r.json.value.create_time).toBe(old!.createTime);
      this.entries.set(key, { value: next, createTime: old!.createTime });
      return;
    }

    const body = JSON.parse(req.body!) as Record<string, unknown>;
    let id: string;
    let expected: Record<string, unknown>;
    if (req.method === 'POST') {
      id = r.json.value.id;
      expect([r.status, /^\d{20}$/.test(id), id > this.lastPostId]).toEqual([201, true, true]);
      this.lastPostId = id;
      expected = { ...body, id };
    } else if (byUsername) {
      id = String(body.username);
      expected = body;
    } else if (shape.res === 'secrets') {
      // Stored as APISIX stores it, `<manager>/<id>`; a body id may be in either form.
      const manager = decode(shape.managerSeg);
      id = pathId ?? String(body.id).replace(new RegExp(`^${manager}/`), '');
      expected = { ...body, id: `${manager}/${id}` };
    } else {
      id = pathId ?? String(body.id);
      expected = pathId !== undefined ? { ...body, id: pathId } : body;
    }
    const key = `${coll}/${id}`;
    const old = this.entries.get(key);
    expect([r.json.key, r.status]).toEqual([key, old ? 200 : 201]);
    expectShown(r.json.value, expected);
    const createTime = old?.createTime ?? r.json.value.create_time;
    expect(r.json.value.create_time).toBe(createTime);
    expect(Math.abs(r.json.value.update_time - now)).toBeLessThanOrEqual(5);
    this.entries.set(key, { value: stripTimes(expected), createTime });
  }

  /**
   * A write the oracle cannot predict (a raw path it did not build) that the server accepted
   * anyway is taken from the reply, so that the final comparison still holds it to account.
   */
  observeUnstructured(req: AdminRequest, r: Reply): void {
    if (r.status < 200 || r.status >= 300 || !r.json || typeof r.json !== 'object') return;
    if (req.method === 'DELETE' && r.json.deleted === '1') this.entries.delete(r.json.key);
    else if (typeof r.json.key === 'string' && r.json.value) this.entries.set(r.json.key, { value: stripTimes(r.json.value), createTime: r.json.value.create_time });
  }
}

describe('property: random and malformed admin requests', () => {
  let h: Harness;
  let agent: http.Agent;
  const log = recordingLogger();
  const cipher = new FieldCipher(['property-test-keyring-0001']);
  const statuses = new Map<number, number>();
  let sent = 0;

  beforeAll(async () => {
    h = await startHarness({ cipher, logger: log.logger });
    agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  });
  afterAll(async () => {
    agent?.destroy();
    await h?.close();
  });

  function send(req: AdminRequest): Promise<Reply> {
    return new Promise((resolve, reject) => {
      const headers: Record<string, string | number> = { 'X-API-KEY': ADMIN_KEY };
      if (req.body !== undefined) headers['Content-Length'] = Buffer.byteLength(req.body);
      const cr = http.request({ host: '127.0.0.1', port: h.admin.port, method: req.method, path: req.path, headers, agent }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          let json: unknown;
          try {
            json = text === '' ? undefined : JSON.parse(text);
          } catch {
            json = undefined;
          }
          resolve({ status: res.statusCode ?? 0, text, json });
        });
        res.on('error', reject);
      });
      cr.on('error', reject);
      cr.end(req.body);
    });
  }

  /** The store's content, decrypted and without timestamps: what the oracle must match. */
  async function storeContent(): Promise<Map<string, unknown>> {
    const out = new Map<string, unknown>();
    for (const kv of (await h.store.range('/apisix/')).items) {
      const ref = parseResourceKey('/apisix', kv.key);
      expect([kv.key, ref !== undefined]).toEqual([kv.key, true]);
      out.set(kv.key, normal(stripTimes(decryptFields(ref!.resource, JSON.parse(kv.value), cipher))));
    }
    return out;
  }

  it(`${RUNS * REQUESTS_PER_RUN} requests: no 5xx, no crash, the store holds exactly the accepted writes`, async () => {
    const oracle = new Oracle();
    const property = fc.asyncProperty(fc.array(adminRequest, { minLength: REQUESTS_PER_RUN, maxLength: REQUESTS_PER_RUN }), async (requests) => {
        // Each run (and each shrink attempt) starts from an empty configuration.
        await h.store.delete('/apisix', { withChildren: true });
        oracle.reset();
        for (const req of requests) {
          const r = await send(req);
          sent++;
          statuses.set(r.status, (statuses.get(r.status) ?? 0) + 1);
          const context = `${req.method} ${req.path} ${req.body?.slice(0, 200)} → ${r.status} ${r.text.slice(0, 300)}`;
          expect([context, r.status < 500]).toEqual([context, true]);
          // Every answer is JSON, except HEAD (no body), the plain-text paging error and a successful validation.
          if (req.method !== 'HEAD' && r.text !== '' && r.text !== 'page_size must be between 10 and 500') {
            expect([context, r.json !== undefined]).toEqual([context, true]);
          }
          try {
            if (req.shape) oracle.observe(req, r);
            else oracle.observeUnstructured(req, r);
          } catch (err) {
            throw new Error(`${context}\n${(err as Error).message}`, { cause: err });
          }
        }
        const stored = await storeContent();
        const expected = new Map([...oracle.entries].map(([k, e]) => [k, normal(e.value)]));
        expect([...stored.keys()].sort()).toEqual([...expected.keys()].sort());
        for (const [key, value] of stored) expect([key, value]).toEqual([key, expected.get(key)]);
      });
    // fc.check rather than fc.assert: a counterexample holds megabyte bodies; report the seed
    // (rerun with it to reproduce) and the first failure, which names the request.
    const outcome = await fc.check(property, { numRuns: RUNS, endOnFailure: true });
    if (outcome.failed) {
      const cause = outcome.errorInstance instanceof Error ? outcome.errorInstance.message : String(outcome.errorInstance);
      throw new Error(`property failed (seed ${outcome.seed}, path ${outcome.counterexamplePath}): ${cause.slice(0, 4000)}`);
    }
    // The server is still up, and nothing was an unexpected error.
    expect((await send({ method: 'GET', path: '/apisix/admin/routes' })).status).toBe(200);
    expect(log.errors()).toEqual([]);
    // Not vacuous: thousands of requests, a real share of them accepted writes, and many refused.
    expect(sent).toBeGreaterThanOrEqual(RUNS * REQUESTS_PER_RUN);
    const accepted = [...oracle.accepted.values()].reduce((a, b) => a + b, 0);
    expect(accepted).toBeGreaterThan(sent / 15);
    for (const method of ['PUT', 'POST', 'PATCH', 'DELETE']) expect([method, (oracle.accepted.get(method) ?? 0) > 10]).toEqual([method, true]);
    expect([...statuses.keys()]).toEqual(expect.arrayContaining([200, 201, 400, 404, 405]));
  }, 120_000);
});
