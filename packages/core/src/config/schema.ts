/** JSON schema of config.yaml after defaults are merged: unknown keys and wrong types stop start-up. */
const str = { type: 'string' };
const nullableStr = { type: ['string', 'null'] };
const port = { type: 'integer', minimum: 0, maximum: 65535 };
const listen = { type: 'object', additionalProperties: false, required: ['port'], properties: { ip: str, port } };

export const configSchema = {
  type: 'object',
  additionalProperties: false,
  properties: {
    apisix: {
      type: 'object',
      additionalProperties: false,
      properties: {
        node_listen: { type: 'array', minItems: 1, items: { anyOf: [port, listen] } },
        workers: { anyOf: [{ type: 'integer', minimum: 1, maximum: 256 }, { const: 'auto' }] },
        idle_gc: { type: 'boolean' },
        ssl: { type: 'object', additionalProperties: false, properties: { ssl_trusted_certificate: str } },
        data_encryption: {
          type: 'object',
          additionalProperties: false,
          properties: { enable_encrypt_fields: { type: 'boolean' }, keyring: { type: 'array', items: str } },
        },
        http: {
          type: 'object',
          additionalProperties: false,
          properties: {
            keepalive_timeout: { type: 'number', exclusiveMinimum: 0 },
            max_header_size: { type: 'integer', minimum: 1024 },
            send_timeout: { type: 'number', exclusiveMinimum: 0 },
            server: { enum: ['own', 'node'] },
            upstream_client: { enum: ['own', 'undici'] },
          },
        },
        lru: {
          type: 'object',
          additionalProperties: false,
          properties: {
            secret: {
              type: 'object',
              additionalProperties: false,
              properties: {
                ttl: { type: 'number', exclusiveMinimum: 0 },
                neg_ttl: { type: 'number', exclusiveMinimum: 0 },
                count: { type: 'integer', minimum: 1 },
              },
            },
          },
        },
      },
    },
    deployment: {
      type: 'object',
      additionalProperties: false,
      properties: {
        role: { enum: ['traditional', 'control_plane', 'data_plane'] },
        config_provider: { enum: ['embedded', 'etcd'] },
        embedded: { type: 'object', additionalProperties: false, properties: { data_dir: str } },
        admin: {
          type: 'object',
          additionalProperties: false,
          properties: {
            admin_listen: listen,
            admin_key_required: { type: 'boolean' },
            admin_key: {
              type: 'array',
              items: {
                type: 'object',
                additionalProperties: false,
                required: ['name', 'role'],
                properties: { name: str, key: { type: ['string', 'null'] }, role: { enum: ['admin', 'viewer'] } },
              },
            },
            allow_admin: { type: 'array', items: str },
            enable_admin_ui: { type: 'boolean' },
          },
        },
        etcd: {
          type: 'object',
          additionalProperties: false,
          properties: {
            host: { type: 'array', minItems: 1, items: { type: 'string', pattern: '^https?://' } },
            prefix: { type: 'string', pattern: '^/' },
            timeout: { type: 'number', exclusiveMinimum: 0 },
            user: nullableStr,
            password: nullableStr,
            tls: {
              type: 'object',
              additionalProperties: false,
              properties: { cert: nullableStr, key: nullableStr, ca: nullableStr, verify: { type: 'boolean' } },
            },
          },
        },
      },
    },
    control: listen,
    metrics: listen,
  },
} as const;
