import { EtcdStore } from '@portico/core';
import { EtcdProcess, etcdGateway, startEtcd } from '@portico/testkit';

/**
 * deployment.etcd.user / password: EtcdStore authenticates, and a wrong password is refused
 * with an error that does not echo the password.
 */
jest.setTimeout(60_000);

let etcd: EtcdProcess;
const PASSWORD = 'etcd-root-pass-7f3a';

beforeAll(async () => {
  etcd = await startEtcd({ name: 'auth' });
  await etcdGateway(etcd.endpoint, '/v3/auth/role/add', { name: 'root' });
  await etcdGateway(etcd.endpoint, '/v3/auth/user/add', { name: 'root', password: PASSWORD });
  await etcdGateway(etcd.endpoint, '/v3/auth/user/grant', { user: 'root', role: 'root' });
  await etcdGateway(etcd.endpoint, '/v3/auth/enable', {});
});

afterAll(async () => {
  await etcd?.stop();
});

test('the right user and password read and write', async () => {
  const store = new EtcdStore({ hosts: [etcd.endpoint], timeoutSeconds: 5, user: 'root', password: PASSWORD });
  try {
    const put = await store.put('/apisix/routes/1', '{"uri":"/a"}');
    expect(put.revision).toBeGreaterThan(1);
    expect((await store.get('/apisix/routes/1'))?.value).toBe('{"uri":"/a"}');
  } finally {
    await store.close();
  }
});

test('no credentials or a wrong password are refused, without echoing the password', async () => {
  const anonymous = new EtcdStore({ hosts: [etcd.endpoint], timeoutSeconds: 3 });
  const wrong = new EtcdStore({ hosts: [etcd.endpoint], timeoutSeconds: 3, user: 'root', password: 'not-the-password' });
  try {
    await expect(anonymous.get('/apisix/routes/1')).rejects.toThrow();
    const err = await wrong.get('/apisix/routes/1').then(() => undefined, (e: Error) => e);
    expect(err).toBeInstanceOf(Error);
    expect(String(err?.message)).not.toContain('not-the-password');
  } finally {
    await Promise.all([anonymous.close(), wrong.close()]);
  }
});
