import { randomBytes, randomInt, randomUUID } from 'node:crypto';
import { PLUGIN_DEFINITIONS } from '@portico/core';
import type { Plugin } from './types';

export interface RequestIdConf {
  header: string;
  inResponse: boolean;
  generate: () => string;
}

const NANOID_ALPHABET = 'useandom-26T198340PX75pxJACKVERYMINDBUSHWOLF_GQZbfghjklqvwyzrict';

function nanoid(): string {
  // 21 symbols of a 64-letter alphabet: a byte's low 6 bits index it without bias.
  const bytes = randomBytes(21);
  let id = '';
  for (const b of bytes) id += NANOID_ALPHABET[b & 63];
  return id;
}

function rangeId(length: number, charset: string): string {
  let id = '';
  for (let i = 0; i < length; i++) id += charset[randomInt(charset.length)];
  return id;
}

/**
 * request-id: keeps the client's id header if it sent one, else generates one (uuid, nanoid
 * or range_id); the upstream receives it and, unless `include_in_response` is false, so does
 * the client — on plugin replies too, so a rejected request can still be traced.
 */
export const requestIdPlugin: Plugin<RequestIdConf> = {
  name: 'request-id',
  priority: PLUGIN_DEFINITIONS['request-id'].priority,
  shareable: true,

  compile(conf): RequestIdConf {
    const algorithm = (conf.algorithm as string | undefined) ?? 'uuid';
    const range = (conf.range_id ?? {}) as { length?: number; char_set?: string };
    const length = range.length ?? 16;
    const charset = range.char_set ?? 'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789';
    return {
      header: String(conf.header_name ?? 'X-Request-Id'),
      inResponse: conf.include_in_response !== false,
      generate: algorithm === 'nanoid' ? nanoid : algorithm === 'range_id' ? () => rangeId(length, charset) : randomUUID,
    };
  },

  phases: {
    rewrite(conf, ctx) {
      let id = ctx.header(conf.header);
      if (!id) {
        id = conf.generate();
        ctx.setUpstreamHeader(conf.header, id);
      }
      if (conf.inResponse) ctx.setResponseHeader(conf.header, id);
    },
  },
};
