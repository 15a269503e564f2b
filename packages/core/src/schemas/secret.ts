import { idSchema, timestampSchema } from './common';

const stamps = { create_time: timestampSchema, update_time: timestampSchema };

/**
 * A secret manager's id as APISIX stores it, `<manager>/<id>` (`"aws/1"` under
 * `/secrets/aws/1`): APISIX data planes refuse a value whose id has no manager. A plain id
 * (`"1"`, what older Portico versions stored) is still read.
 */
function secretIdSchema(manager: string) {
  return { anyOf: [...idSchema.anyOf, { type: 'string', pattern: `^${manager}/[a-zA-Z0-9-_.]{1,64}$` }] };
}

/**
 * Settings every secret manager accepts (Portico adds): cache behaviour and call limits.
 * `rotation_grace`: seconds key-auth keeps accepting the previous value of a referenced key
 * after this node first sees a new one (default 0). `resurrect_ttl`: seconds an expired value
 * may still be served while refreshes fail (default 3600). `request_timeout`/`connect_timeout`
 * in seconds, `retries` after the first attempt.
 */
const common = {
  rotation_grace: { type: 'number', minimum: 0, maximum: 86400 },
  resurrect_ttl: { type: 'number', minimum: 0 },
  request_timeout: { type: 'number', exclusiveMinimum: 0, maximum: 300 },
  connect_timeout: { type: 'number', exclusiveMinimum: 0, maximum: 300 },
  retries: { type: 'integer', minimum: 0, maximum: 10 },
};

/**
 * `/secrets/aws/<id>`. Portico differs from APISIX: the key pair may be omitted, and then the
 * AWS default credential chain is used. Any string may be an `$env://` reference.
 */
export const awsSecretSchema = {
  type: 'object',
  additionalProperties: false,
  properties: {
    id: secretIdSchema('aws'),
    access_key_id: { type: 'string', minLength: 1 },
    secret_access_key: { type: 'string', minLength: 1 },
    session_token: { type: 'string', minLength: 1 },
    region: { type: 'string', minLength: 1 },
    endpoint_url: { type: 'string', pattern: '^https?://' },
    sts_endpoint_url: { type: 'string', pattern: '^https?://' },
    assume_role_arn: { type: 'string', pattern: '^arn:' },
    role_session_name: { type: 'string', pattern: '^[\\w+=,.@-]{2,64}$' },
    external_id: { type: 'string', minLength: 2, maxLength: 1224 },
    ...common,
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
    id: secretIdSchema('vault'),
    uri: { type: 'string', pattern: '^https?://' },
    prefix: { type: 'string' },
    token: { type: 'string', minLength: 1 },
    namespace: { type: 'string' },
    /** KV engine version; default 1 as in APISIX (2 reads `<mount>/data/<path>`) */
    kv_version: { type: 'integer', enum: [1, 2] },
    ...common,
    ...stamps,
  },
};

/** `/secrets/gcp/<id>` (APISIX `secret/gcp.lua`): a service account inline or in a file. */
export const gcpSecretSchema = {
  type: 'object',
  additionalProperties: false,
  properties: {
    id: secretIdSchema('gcp'),
    auth_config: {
      type: 'object',
      additionalProperties: false,
      required: ['client_email', 'private_key', 'project_id'],
      properties: {
        client_email: { type: 'string' },
        private_key: { type: 'string' },
        private_key_id: { type: 'string' },
        project_id: { type: 'string' },
        token_uri: { type: 'string', pattern: '^https?://' },
        scope: { type: 'array', items: { type: 'string' } },
        entries_uri: { type: 'string', pattern: '^https?://' },
      },
    },
    auth_file: { type: 'string', minLength: 1 },
    /** Portico adds: Secret Manager base URL (`<endpoint>/v1/projects/...`), e.g. an emulator */
    endpoint: { type: 'string', pattern: '^https?://' },
    ssl_verify: { type: 'boolean' },
    ...common,
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
