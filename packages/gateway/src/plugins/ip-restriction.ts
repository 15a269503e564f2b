import net from 'node:net';
import { PLUGIN_DEFINITIONS, addCidr, checkIp } from '@portico/core';
import type { Plugin, PluginResponse } from './types';

export interface IpRestrictionConf {
  list: net.BlockList;
  /** true: only listed addresses pass; false: listed addresses are refused. */
  allowList: boolean;
  reply: PluginResponse;
}

/**
 * ip-restriction: `whitelist` lets only the listed addresses/CIDRs in, `blacklist` keeps them
 * out; a refused client gets `response_code` (403) with `{"message": ...}`. The lists are
 * compiled once per route into a BlockList (IPv4 and IPv6, IPv4-mapped addresses normalised
 * by the proxy).
 */
export const ipRestrictionPlugin: Plugin<IpRestrictionConf> = {
  name: 'ip-restriction',
  priority: PLUGIN_DEFINITIONS['ip-restriction'].priority,
  shareable: true,

  compile(conf): IpRestrictionConf {
    const allowList = conf.whitelist !== undefined;
    const list = new net.BlockList();
    for (const cidr of (allowList ? conf.whitelist : conf.blacklist) as string[]) addCidr(list, cidr);
    return {
      list,
      allowList,
      reply: {
        status: (conf.response_code as number | undefined) ?? 403,
        body: { message: (conf.message as string | undefined) ?? 'Your IP address is not allowed' },
      },
    };
  },

  phases: {
    access(conf, ctx) {
      const listed = checkIp(conf.list, ctx.remoteAddr);
      if (listed !== conf.allowList) return conf.reply;
      return undefined;
    },
  },
};
