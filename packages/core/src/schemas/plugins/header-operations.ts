/** Header name → value (string or number); names without a colon. */
export const headerMap = {
  type: 'object',
  minProperties: 1,
  propertyNames: { pattern: '^[^:]+$' },
  additionalProperties: { oneOf: [{ type: 'string' }, { type: 'number' }] },
};

/**
 * The `headers` of proxy-rewrite and response-rewrite: `{add, set, remove}`, or the APISIX 2.x
 * form, a plain map meaning `set` (an empty value removes the header). The two plugins differ
 * only in `add`: a map for proxy-rewrite, `"name: value"` strings for response-rewrite.
 */
export function headerOperations(add: object): object {
  return {
    anyOf: [
      {
        type: 'object',
        minProperties: 1,
        additionalProperties: false,
        properties: {
          add,
          set: headerMap,
          remove: { type: 'array', minItems: 1, items: { type: 'string', pattern: '^[^:]+$' } },
        },
      },
      headerMap,
    ],
  };
}
