import { checkNodeAddresses } from '../compile/node-address';
import { hostSchema, metadataProperties, timeoutSchema } from './common';

const nodeObject = {
  type: 'object',
  required: ['host', 'port', 'weight'],
  properties: {
    host: hostSchema,
    port: { type: 'integer', minimum: 1, maximum: 65535 },
    weight: { type: 'integer', minimum: 0 },
    priority: { type: 'integer' },
    metadata: { type: 'object' },
  },
};

/** Inline upstream (route.upstream) and the /upstreams resource share this shape. */
export const upstreamSchema = {
  type: 'object',
  additionalProperties: false,
  properties: {
    ...metadataProperties,
    nodes: {
      anyOf: [
        { type: 'object', patternProperties: { '.*': { type: 'integer', minimum: 0 } }, minProperties: 0 },
        { type: 'array', items: nodeObject },
      ],
    },
    type: { enum: ['roundrobin', 'chash', 'ewma', 'least_conn'] },
    hash_on: { enum: ['vars', 'header', 'cookie', 'consumer', 'vars_combinations'] },
    key: { type: 'string' },
    scheme: { enum: ['http', 'https'] },
    pass_host: { enum: ['pass', 'node', 'rewrite'] },
    upstream_host: hostSchema,
    retries: { type: 'integer', minimum: 0 },
    retry_timeout: { type: 'number', minimum: 0 },
    timeout: timeoutSchema,
    checks: { type: 'object' },
    keepalive_pool: {
      type: 'object',
      additionalProperties: false,
      properties: {
        size: { type: 'integer', minimum: 1 },
        idle_timeout: { type: 'number', minimum: 0 },
        requests: { type: 'integer', minimum: 1 },
      },
    },
    tls: {
      type: 'object',
      additionalProperties: false,
      properties: { verify: { type: 'boolean' }, client_cert: { type: 'string' }, client_key: { type: 'string' } },
    },
  },
  required: ['nodes'],
};

/**
 * Rules APISIX checks outside its upstream schema (`check_upstream_conf`): `chash` needs a
 * `key` to hash on, unless it hashes on the consumer. And every node address must be one the
 * data plane can connect to, checked with the function it parses them with (port 1-65535, a
 * host without spaces or control characters, IPv6 in brackets). Here rather than in the admin
 * API so a data-plane node refuses the same item on load. Returns the whole `error_msg`.
 */
export function checkUpstreamRules(upstream: Record<string, unknown>): string | undefined {
  const address = checkNodeAddresses(upstream.nodes);
  if (address) return `invalid configuration: property "nodes" validation failed: ${address}`;
  if (upstream.type === 'chash' && upstream.hash_on !== 'consumer' && upstream.key === undefined) return 'missing key';
  return undefined;
}
