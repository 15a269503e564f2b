import { SecretNotFoundError } from './errors';

/**
 * Reads `field` of a JSON object held in a secret. `what` names the secret in errors.
 * JSON.parse's own message quotes the input on Node 20 ("... "hunter2" is not valid JSON"),
 * so it is never passed on.
 */
export function readJsonField(text: string, field: string, what: string): string {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    throw new SecretNotFoundError(`${what} is not a JSON object, so it has no field "${field}"`);
  }
  if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) {
    throw new SecretNotFoundError(`${what} is not a JSON object, so it has no field "${field}"`);
  }
  if (!Object.prototype.hasOwnProperty.call(parsed, field)) {
    throw new SecretNotFoundError(`${what} has no field "${field}"`);
  }
  const value = (parsed as Record<string, unknown>)[field];
  if (typeof value === 'string') return value;
  if (typeof value === 'number' && Number.isFinite(value)) return String(value);
  throw new SecretNotFoundError(`field "${field}" of ${what} is not a string or number`);
}
