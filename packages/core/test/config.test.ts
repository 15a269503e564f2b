import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ConfigError, DEFAULT_CONFIG, loadConfig, parseConfig, substituteEnv } from '@portico/core';

describe('config.yaml loading', () => {
  it('returns the defaults for an empty file', () => {
    expect(parseConfig('')).toEqual(DEFAULT_CONFIG);
  });

  it('deep-merges user values over defaults; arrays replace', () => {
    const cfg = parseConfig(`
deployment:
  admin:
    admin_listen: { port: 9999 }
    allow_admin: [10.0.0.0/8]
apisix:
  lru: { secret: { ttl: 5 } }
`);
    expect(cfg.deployment.admin.admin_listen).toEqual({ ip: '127.0.0.1', port: 9999 });
    expect(cfg.deployment.admin.allow_admin).toEqual(['10.0.0.0/8']);
    expect(cfg.apisix.lru.secret).toEqual({ ttl: 5, neg_ttl: 60, count: 4096 });
    expect(cfg.deployment.role).toBe('traditional');
  });

  it.each([
    ['${{PORT}}', { PORT: '7000' }, '7000'],
    ['${{PORT:=8000}}', {}, '8000'],
    ['${{ PORT:=8000 }}', { PORT: '7000' }, '7000'],
    ['a ${{X}} b ${{Y:=y}}', { X: 'x' }, 'a x b y'],
  ])('substitutes %s', (text, env, expected) => {
    expect(substituteEnv(text, env)).toBe(expected);
  });

  it('leaves whole-line comments alone', () => {
    expect(substituteEnv('# ${{UNSET_IN_COMMENT}}\nport: ${{P:=1}}', {})).toBe('# ${{UNSET_IN_COMMENT}}\nport: 1');
  });

  it('names an unset variable without default', () => {
    expect(() => substituteEnv('port: ${{NOPE_NOT_SET}}', {})).toThrow(/NOPE_NOT_SET is not set/);
  });

  it('apisix.idle_gc: on by default, a boolean', () => {
    expect(parseConfig('').apisix.idle_gc).toBe(true);
    expect(parseConfig('apisix:\n  idle_gc: false\n').apisix.idle_gc).toBe(false);
    expect(() => parseConfig('apisix:\n  idle_gc: sometimes\n')).toThrow('config.yaml: apisix.idle_gc must be boolean');
  });

  it('apisix.workers: default 1, a number or auto (PORTICO_WORKERS in the repository config.yaml)', () => {
    expect(parseConfig('').apisix.workers).toBe(1);
    expect(parseConfig('apisix:\n  workers: 4\n').apisix.workers).toBe(4);
    expect(parseConfig('apisix:\n  workers: auto\n').apisix.workers).toBe('auto');
    expect(loadConfig(join(__dirname, '../../../config.yaml'), { PORTICO_WORKERS: 'auto' }).apisix.workers).toBe('auto');
    expect(loadConfig(join(__dirname, '../../../config.yaml'), {}).apisix.workers).toBe(1);
  });

  it('uses substituted values with their YAML type', () => {
    const cfg = parseConfig('deployment:\n  admin:\n    admin_listen:\n      port: ${{ADMIN_PORT}}\n', { ADMIN_PORT: '9181' });
    expect(cfg.deployment.admin.admin_listen.port).toBe(9181);
  });

  it.each([
    ['apisix:\n  nope: 1\n', 'config.yaml: unknown key apisix.nope'],
    ['deployment:\n  admin:\n    admin_listen: { port: "x" }\n', 'config.yaml: deployment.admin.admin_listen.port must be integer'],
    ['deployment:\n  role: edge\n', 'config.yaml: deployment.role must be equal to one of the allowed values'],
    ['deployment:\n  role: data_plane\n', 'config.yaml: deployment.role data_plane requires deployment.config_provider: etcd'],
    ['deployment:\n  etcd: { host: ["127.0.0.1:2379"] }\n', 'config.yaml: deployment.etcd.host.0 must match pattern "^https?://"'],
    ['apisix:\n  workers: 0\n', 'config.yaml: apisix.workers must be an integer from 1 to 256 or "auto"'],
    ['apisix:\n  workers: many\n', 'config.yaml: apisix.workers must be an integer from 1 to 256 or "auto"'],
    ['- a\n- b\n', 'config.yaml: the top level must be a mapping'],
    ['a: [\n', 'config.yaml: invalid YAML'],
  ])('rejects %j naming the key', (text, message) => {
    expect(() => parseConfig(text)).toThrow(ConfigError);
    expect(() => parseConfig(text)).toThrow(message);
  });

  it('loads a file and reports a missing one by path', () => {
    const dir = mkdtempSync(join(tmpdir(), 'portico-cfg-'));
    const file = join(dir, 'config.yaml');
    writeFileSync(file, 'deployment:\n  config_provider: etcd\n');
    expect(loadConfig(file).deployment.config_provider).toBe('etcd');
    expect(() => loadConfig(join(dir, 'missing.yaml'))).toThrow(`cannot read configuration file ${join(dir, 'missing.yaml')}: ENOENT`);
  });

  it('the repository config.yaml is valid and allows keyless admin on loopback', () => {
    const cfg = loadConfig(join(__dirname, '../../../config.yaml'), {});
    expect(cfg.deployment.admin.admin_key_required).toBe(false);
    expect(cfg.deployment.admin.admin_listen.ip).toBe('127.0.0.1');
    expect(cfg.deployment.config_provider).toBe('embedded');
  });
});
