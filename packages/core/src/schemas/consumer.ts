import { idSchema, labelsSchema, pluginsSchema, timestampSchema } from './common';

export const consumerSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['username'],
  properties: {
    username: { type: 'string', minLength: 1, maxLength: 256, pattern: '^[a-zA-Z0-9_\\-]+$' },
    desc: { type: 'string', maxLength: 256 },
    labels: labelsSchema,
    group_id: idSchema,
    plugins: pluginsSchema,
    create_time: timestampSchema,
    update_time: timestampSchema,
  },
};
