import net from 'node:net';

/**
 * Upstream node addresses: the keys of `nodes` in its object form (`"host:port": weight`) and
 * the `host` of its array form. The Admin API checks them with these functions before a write
 * and the data plane parses them with the same ones, so an address the admin accepts is one the
 * proxy can connect to.
 */

export interface NodeAddress {
  /** Without brackets for IPv6. */
  host: string;
  /** Undefined when the address names none (the scheme's default applies). */
  port?: number;
}

/** Host names: letters, digits, `-`, `.`, `_` (as APISIX's host pattern); no space or control character. */
const HOST_NAME = /^[0-9a-zA-Z._-]+$/;

/** Why `host` cannot be a node's host, or undefined. Brackets are for IPv6 only. */
export function nodeHostError(host: string): string | undefined {
  if (host.startsWith('[') || host.endsWith(']')) {
    const inner = host.startsWith('[') && host.endsWith(']') ? host.slice(1, -1) : '';
    return net.isIPv6(inner) ? undefined : `invalid host ${JSON.stringify(host)}`;
  }
  if (host.includes(':')) return net.isIPv6(host) ? undefined : `invalid host ${JSON.stringify(host)}`;
  return HOST_NAME.test(host) ? undefined : `invalid host ${JSON.stringify(host)}`;
}

/** Why `port` cannot be a node's port, or undefined. */
export function nodePortError(port: unknown): string | undefined {
  return Number.isInteger(port) && (port as number) >= 1 && (port as number) <= 65535 ? undefined : `invalid port ${String(port)}`;
}

/**
 * Parses an object-form node key: `host`, `host:port`, `[v6]`, `[v6]:port`, or a bare IPv6
 * address (which names no port, as in APISIX). Throws an Error naming the key and what is wrong.
 */
export function parseNodeAddress(key: string): NodeAddress {
  let host: string;
  let portText: string | undefined;
  if (key.startsWith('[')) {
    const close = key.indexOf(']');
    if (close < 0) throw new Error(`invalid node address ${JSON.stringify(key)}: invalid host`);
    host = key.slice(0, close + 1);
    const rest = key.slice(close + 1);
    if (rest !== '') {
      if (!rest.startsWith(':')) throw new Error(`invalid node address ${JSON.stringify(key)}: invalid host`);
      portText = rest.slice(1);
    }
  } else {
    const first = key.indexOf(':');
    if (first >= 0 && key.indexOf(':', first + 1) < 0) {
      host = key.slice(0, first);
      portText = key.slice(first + 1);
    } else {
      host = key; // no port, or a bare IPv6 address
    }
  }
  const hostError = nodeHostError(host);
  if (hostError) throw new Error(`invalid node address ${JSON.stringify(key)}: ${hostError}`);
  let port: number | undefined;
  if (portText !== undefined) {
    port = /^[0-9]{1,5}$/.test(portText) ? Number(portText) : NaN;
    if (nodePortError(port)) throw new Error(`invalid node address ${JSON.stringify(key)}: invalid port ${JSON.stringify(portText)}`);
  }
  return { host: host.startsWith('[') ? host.slice(1, -1) : host, port };
}

/**
 * Checks every address of an upstream's `nodes` (either form); returns the reason for the
 * first bad one, or undefined. Shapes are the schema's business; this is about addresses.
 */
export function checkNodeAddresses(nodes: unknown): string | undefined {
  if (Array.isArray(nodes)) {
    for (const n of nodes) {
      if (typeof n !== 'object' || n === null) continue;
      const { host, port } = n as { host?: unknown; port?: unknown };
      if (typeof host === 'string') {
        const e = nodeHostError(host);
        if (e) return `invalid node address ${JSON.stringify(host)}: ${e}`;
      }
      if (port !== undefined) {
        const e = nodePortError(port);
        if (e) return `invalid node address ${JSON.stringify(`${String(host)}:${String(port)}`)}: ${e}`;
      }
    }
    return undefined;
  }
  if (typeof nodes === 'object' && nodes !== null) {
    for (const key of Object.keys(nodes)) {
      try {
        parseNodeAddress(key);
      } catch (err) {
        return (err as Error).message;
      }
    }
  }
  return undefined;
}
