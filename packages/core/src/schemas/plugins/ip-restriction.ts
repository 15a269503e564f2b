import net from 'node:net';
import { addCidr } from '../../compile/vars-expr';

/** ip-restriction (APISIX 3.x, priority 3000): allow or deny client addresses by IP/CIDR. */
const ipList = {
  type: 'array',
  minItems: 1,
  // Shape only (no ajv formats here); checkIpRestrictionConf parses each entry with the
  // function the gateway builds its address list with.
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

/** Every entry must be an address or CIDR the data plane can put in its list. */
export function checkIpRestrictionConf(conf: Record<string, unknown>): string | undefined {
  for (const field of ['whitelist', 'blacklist']) {
    const list = conf[field];
    if (!Array.isArray(list)) continue;
    for (let i = 0; i < list.length; i++) {
      try {
        addCidr(new net.BlockList(), String(list[i]));
      } catch {
        return `property "${field}" validation failed: failed to validate item ${i + 1}: object matches none of the required`;
      }
    }
  }
  return undefined;
}
