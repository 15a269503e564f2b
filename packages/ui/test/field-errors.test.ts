import { explainDeleteError, parseFieldError } from '../src/field-errors';

describe('dashboard: Admin API messages to form fields', () => {
  it('follows nested property failures to the innermost field', () => {
    expect(parseFieldError('invalid configuration: property "upstream" validation failed: property "nodes" validation failed: wrong type: expected array, got string'))
      .toEqual({ path: ['upstream', 'nodes'], reason: 'wrong type: expected array, got string' });
  });

  it('puts a plugin failure under plugins/<name>', () => {
    expect(parseFieldError('failed to check the configuration of plugin key-auth err: property "header" validation failed: wrong type: expected string, got number'))
      .toEqual({ path: ['plugins', 'key-auth', 'header'], reason: 'wrong type: expected string, got number' });
  });

  it('names a missing required property as the field', () => {
    expect(parseFieldError('invalid configuration: property "key" is required').path).toEqual(['key']);
  });

  it('leaves a message without a field at the root', () => {
    expect(parseFieldError('missing route id')).toEqual({ path: [], reason: 'missing route id' });
  });

  it('says in words what still references an item', () => {
    expect(explainDeleteError('can not delete this upstream, route [1] is still using it now'))
      .toBe('This upstream is still used by route 1. Change or delete route 1 first, then delete the upstream.');
    expect(explainDeleteError('can not delete this service directly, route [r2] is still using it now'))
      .toBe('This service is still used by route r2. Change or delete route r2 first, then delete the service.');
    expect(explainDeleteError('Key not found')).toBe('Key not found');
  });
});
