/** ip-restriction (APISIX 3.x, priority 3000): allow or deny client addresses by IP/CIDR. */
const ipList = {
  type: 'array',
  minItems: 1,
  // Shape only (no ajv formats here); the gateway parses each entry with node:net and
  // refuses the conf when one is not an address or CIDR.
  items: { type: 'string', pattern: '^[0-9a-fA-F:.]+(/[0-9]{1,3})?$' },
};

export const ipRestrictionPlugin = {
  name: 'ip-restriction',
  priority: 3000,
  schema: {
    type: 'object',
    additionalProperties: false,
    properties: {
      message: { type: 'string', minLength: 1, maxLength: 1024, default: 'Your IP address is not allowed' },
      response_code: { type: 'integer', minimum: 403, maximum: 404, default: 403 },
      whitelist: ipList,
      blacklist: ipList,
      _meta: { type: 'object' },
    },
    oneOf: [{ required: ['whitelist'] }, { required: ['blacklist'] }],
  },
};
