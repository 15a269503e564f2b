import { createEnvProvider, readJsonField, resolveAwsConf, SecretNotFoundError } from '@portico/secrets';

describe('resolveAwsConf', () => {
  it('replaces $env:// strings and keeps the rest', () => {
    const conf = resolveAwsConf(
      { access_key_id: 'AKID', secret_access_key: '$env://S', session_token: '$env://T/token', region: 'eu-west-1', id: 'john' },
      { S: 'from-env', T: '{"token":"tok"}' },
    );
    expect(conf).toEqual({ access_key_id: 'AKID', secret_access_key: 'from-env', session_token: 'tok', region: 'eu-west-1' });
  });

  it('names keys, never values, in its errors', () => {
    expect(() => resolveAwsConf({ access_key_id: 'AKID-VALUE' }, {})).toThrow('access_key_id and secret_access_key go together');
    expect(() => resolveAwsConf({ region: 42 }, {})).toThrow('region must be a non-empty string');
    expect(() => resolveAwsConf('nope', {})).toThrow('must be an object');
    const err = (() => {
      try {
        resolveAwsConf({ access_key_id: 'A', secret_access_key: '$env://MISSING' }, {});
      } catch (e) {
        return e as Error;
      }
      return undefined;
    })();
    expect(err?.message).toBe('aws secret manager: secret_access_key refers to $env://MISSING: environment variable MISSING is not set');
  });

  it('accepts a conf without a key pair (default credential chain)', () => {
    expect(resolveAwsConf({ region: 'us-west-2' }, {})).toEqual({ region: 'us-west-2' });
  });
});

describe('readJsonField', () => {
  it.each([
    ['{"a":"x"}', 'a', 'x'],
    ['{"a":12.5}', 'a', '12.5'],
  ])('reads %s field %s', (text, field, expected) => {
    expect(readJsonField(text, field, 'secret "s"')).toBe(expected);
  });

  it.each([
    ['not json: hunter2', 'a'],
    ['[1,2]', '0'],
    ['{"a":null}', 'a'],
    ['{"a":{"b":1}}', 'a'],
    ['{"b":"hunter2"}', 'a'],
    ['{"toString":"x"}', 'constructor'],
  ])('refuses %s field %s without quoting the value', (text, field) => {
    let err: unknown;
    try {
      readJsonField(text, field, 'secret "s"');
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(SecretNotFoundError);
    expect((err as Error).message).not.toContain('hunter2');
    expect((err as Error).message).toContain('secret "s"');
  });
});

describe('env provider', () => {
  it('reads NAME and NAME/field', async () => {
    const p = createEnvProvider({ A: 'plain', J: '{"k":"v"}' });
    await expect(p.get('A')).resolves.toBe('plain');
    await expect(p.get('J/k')).resolves.toBe('v');
    await expect(p.get('NOPE')).rejects.toBeInstanceOf(SecretNotFoundError);
  });
});
