/** Pieces shared by the resource schemas (APISIX 3.x `schema_def.lua`). */

export const idSchema = {
  anyOf: [
    { type: 'string', minLength: 1, maxLength: 64, pattern: '^[a-zA-Z0-9-_.]+$' },
    { type: 'integer', minimum: 1 },
  ],
};

export const labelsSchema = {
  type: 'object',
  patternProperties: { '.*': { type: 'string', pattern: '^\\S+$', minLength: 1, maxLength: 256 } },
};

export const timestampSchema = { type: 'integer' };

/** Metadata every resource may carry. `create_time`/`update_time` are set by the admin API. */
export const metadataProperties = {
  id: idSchema,
  name: { type: 'string', minLength: 1, maxLength: 256 },
  desc: { type: 'string', maxLength: 256 },
  labels: labelsSchema,
  create_time: timestampSchema,
  update_time: timestampSchema,
};

export const pluginsSchema = { type: 'object' };

export const timeoutSchema = {
  type: 'object',
  additionalProperties: false,
  properties: {
    connect: { type: 'number', exclusiveMinimum: 0 },
    send: { type: 'number', exclusiveMinimum: 0 },
    read: { type: 'number', exclusiveMinimum: 0 },
  },
};

export const hostSchema = { type: 'string', pattern: '^\\*?[0-9a-zA-Z-._\\[\\]:]+$' };

export const HTTP_METHODS = ['GET', 'POST', 'PUT', 'DELETE', 'PATCH', 'HEAD', 'OPTIONS', 'CONNECT', 'TRACE', 'PURGE'];

/**
 * True for a value that claims to be a `$secret://` / `$env://` reference (SPEC §9), with the
 * same prefixes as the secrets package's `isSecretRef` (core cannot import it). Such a value
 * is resolved per node at request time, so schema-level content checks (PEM parsing) skip it.
 */
export function isSecretReference(v: unknown): boolean {
  return typeof v === 'string' && (v.startsWith('$secret://') || v.startsWith('$env://') || v.startsWith('$ENV://'));
}

/** A string that is a reference (see isSecretReference), for schemas that allow one instead of inline content. */
export const secretReferenceSchema = { type: 'string', pattern: '^\\$(secret|env|ENV)://' };
