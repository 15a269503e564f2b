import fs from 'node:fs';
import path from 'node:path';
import { EtcdStore, StoreUnavailableError } from '@portico/core';
import { EtcdProcess, startEtcd, makeTestCertificates } from '@portico/testkit';

/**
 * deployment.etcd.tls: EtcdStore talks to an etcd that serves TLS and requires client
 * certificates (mutual TLS), trusting the CA named in `tls.ca`. Certificates are made with
 * openssl for this run.
 */
jest.setTimeout(60_000);

let etcd: EtcdProcess;
let dir: string;
const file = (name: string) => path.join(dir, name);

beforeAll(async () => {
  dir = makeTestCertificates('portico-etcd-tls').dir;
  etcd = await startEtcd({ name: 'tls', tls: { ca: file('ca.pem'), cert: file('server.pem'), key: file('server.key'), clientCertAuth: true } });
});

afterAll(async () => {
  await etcd?.stop();
  fs.rmSync(dir, { recursive: true, force: true });
});

test('mutual TLS with the configured CA and client certificate works', async () => {
  expect(etcd.endpoint).toMatch(/^https:/);
  const store = new EtcdStore({ hosts: [etcd.endpoint], timeoutSeconds: 5,
    tls: { ca: file('ca.pem'), cert: file('client.pem'), key: file('client.key'), verify: true } });
  try {
    await store.put('/apisix/routes/tls', '{"uri":"/tls"}');
    expect((await store.get('/apisix/routes/tls'))?.value).toBe('{"uri":"/tls"}');
  } finally {
    await store.close();
  }
});

test('without a client certificate the store is unavailable, within the timeout', async () => {
  const store = new EtcdStore({ hosts: [etcd.endpoint], timeoutSeconds: 2, tls: { ca: file('ca.pem'), verify: true } });
  const started = Date.now();
  try {
    await expect(store.get('/apisix/routes/tls')).rejects.toBeInstanceOf(StoreUnavailableError);
    expect(Date.now() - started).toBeLessThan(6000);
  } finally {
    await store.close();
  }
});
