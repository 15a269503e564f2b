/** prometheus (APISIX priority 500): accepted so APISIX configurations load; Portico exports every route. */
export const prometheusPlugin = {
  name: 'prometheus',
  priority: 500,
  schema: {
    type: 'object',
    additionalProperties: false,
    properties: { prefer_name: { type: 'boolean' }, _meta: { type: 'object' } },
  },
};
