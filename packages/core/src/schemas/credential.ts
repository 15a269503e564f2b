import { metadataProperties, pluginsSchema } from './common';

export const credentialSchema = {
  type: 'object',
  additionalProperties: false,
  properties: { ...metadataProperties, plugins: pluginsSchema },
};
