import { idSchema, timestampSchema } from './common';

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
    create_time: timestampSchema,
    update_time: timestampSchema,
  },
  dependencies: { access_key_id: ['secret_access_key'], secret_access_key: ['access_key_id'] },
};

/** Secret managers Portico knows, with the schema of their configuration. */
export const SECRET_MANAGER_SCHEMAS: Record<string, object> = {
  aws: awsSecretSchema,
};
