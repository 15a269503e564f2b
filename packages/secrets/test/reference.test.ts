import { isSecretRef, parseSecretRef } from '@portico/secrets';

describe('secret reference grammar', () => {
  const valid: Array<[string, object]> = [
    ['$secret://aws/john/apisix-secrets/john-key-auth',
      { kind: 'secret', manager: 'aws', confId: 'john', path: 'apisix-secrets/john-key-auth' }],
    ['$secret://aws/1/jack', { kind: 'secret', manager: 'aws', confId: '1', path: 'jack' }],
    ['$secret://vault/my.conf-id_2/kv/apisix/jack/key',
      { kind: 'secret', manager: 'vault', confId: 'my.conf-id_2', path: 'kv/apisix/jack/key' }],
    [`$secret://aws/${'a'.repeat(64)}/x`, { kind: 'secret', confId: 'a'.repeat(64), path: 'x' }],
    ['$secret://aws/john/prod/key+=@.', { kind: 'secret', path: 'prod/key+=@.' }],
    ['$env://JACK_KEY', { kind: 'env', name: 'JACK_KEY' }],
    ['$env://KEYS/jack', { kind: 'env', name: 'KEYS', field: 'jack' }],
    ['$ENV://_X1', { kind: 'env', name: '_X1' }],
  ];
  it.each(valid)('parses %s', (raw, expected) => {
    expect(parseSecretRef(raw)).toMatchObject({ ...expected, raw });
    expect(isSecretRef(raw)).toBe(true);
  });

  const invalid: Array<[string, string]> = [
    ['$secret://aws/john', 'no path'],
    ['$secret://aws/john/', 'empty path'],
    ['$secret://AWS/john/x', 'manager must be lowercase letters'],
    ['$secret://aws2/john/x', 'manager must be letters only'],
    ['$secret://aws//x', 'empty conf id'],
    [`$secret://aws/${'a'.repeat(65)}/x`, 'conf id longer than 64'],
    ['$secret://aws/jo%hn/x', 'conf id outside [a-zA-Z0-9-_.]'],
    ['$secret://aws/john/a//b', 'empty path segment'],
    ['$secret://aws/john/a/', 'trailing slash'],
    ['$secret://aws/john/a b', 'whitespace in path'],
    ['$env://', 'no variable name'],
    ['$env://1ABC', 'variable name starting with a digit'],
    ['$env://A/b/c', 'field with a slash'],
    ['$env://A/', 'empty field'],
    [' $env://A', 'leading space'],
  ];
  it.each(invalid)('rejects %s (%s)', (raw) => {
    expect(parseSecretRef(raw)).toBeUndefined();
  });

  it('isSecretRef is true for anything with a reference prefix, so malformed ones never become literals', () => {
    expect(isSecretRef('$secret://aws/john')).toBe(true);
    expect(isSecretRef('$env://')).toBe(true);
    expect(isSecretRef('secret://aws/john/x')).toBe(false);
    expect(isSecretRef('plain-key')).toBe(false);
    expect(isSecretRef('')).toBe(false);
    expect(isSecretRef(42)).toBe(false);
    expect(isSecretRef(undefined)).toBe(false);
  });

  it('gives an env reference without a field no field at all', () => {
    expect(parseSecretRef('$env://JACK_KEY')).toEqual({ kind: 'env', name: 'JACK_KEY', raw: '$env://JACK_KEY' });
  });

  it('returns undefined for plain values', () => {
    expect(parseSecretRef('plain-key')).toBeUndefined();
    expect(parseSecretRef('secret://aws/john/x')).toBeUndefined();
  });
});
