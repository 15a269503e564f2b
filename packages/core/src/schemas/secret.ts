import { idSchema, timestampSchema } from './common';

const stamps = { create_time: timestampSchema, update_time: timestampSchema };

/**
 * `/secrets/aws/<id>`. Portico differs from APISIX: the key pair may be omitted, and then the
 * AWS default credential chain is used. Any string may be an `$env://` reference.
 */
export const awsSecretSchema = {
  type: 'object',
  additionalProperties: false,
  properties: {
    id: idSchema,
    access_key_id: { type: 'string', minLength: 1 },
    secret_access_key: { type: 'string', minLength: 1 },
    session_token: { type: 'string', minLength: 1 },
    region: { type: 'string', minLength: 1 },
    endpoint_url: { type: 'string', pattern: '^https?://' },
    ...stamps,
  },
  dependentRequired: { access_key_id: ['secret_access_key'], secret_access_key: ['access_key_id'] },
};

/** `/secrets/vault/<id>` (APISIX `secret/vault.lua`): KV engine at `uri` + `prefix`. */
export const vaultSecretSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['uri', 'prefix', 'token'],
  properties: {
    id: idSchema,
    uri: { type: 'string', pattern: '^https?://' },
    prefix: { type: 'string' },
    token: { type: 'string', minLength: 1 },
    namespace: { type: 'string' },
    ...stamps,
  },
};

/** `/secrets/gcp/<id>` (APISIX `secret/gcp.lua`): a service account inline or in a file. */
export const gcpSecretSchema = {
  type: 'object',
  additionalProperties: false,
  properties: {
    id: idSchema,
    auth_config: {
      type: 'object',
      additionalProperties: false,
      required: ['client_email', 'private_key', 'project_id'],
      properties: {
        client_email: { type: 'string' },
        private_key: { type: 'string' },
        project_id: { type: 'string' },
        token_uri: { type: 'string', pattern: '^https?://' },
        scope: { type: 'array', items: { type: 'string' } },
        entries_uri: { type: 'string', pattern: '^https?://' },
      },
    },
    auth_file: { type: 'string', minLength: 1 },
    ssl_verify: { type: 'boolean' },
    ...stamps,
  },
  oneOf: [{ required: ['auth_config'] }, { required: ['auth_file'] }],
};

/** Secret managers Portico knows, with the schema of their configuration. */
export const SECRET_MANAGER_SCHEMAS: Record<string, object> = {
  aws: awsSecretSchema,
  vault: vaultSecretSchema,
  gcp: gcpSecretSchema,
};
