import net from 'node:net';
import { compileConfigRegex } from './config-regex';

/**
 * APISIX route `vars` (lua-resty-expr): a list of conditions that must all hold, e.g.
 * `[["arg_name","==","json"],["http_x_env","~~","^prod"]]`. A condition is
 * `[var, op, value]` or `[var, "!", op, value]`; a list may start with "AND", "OR", "!AND" or
 * "!OR" to combine nested lists. Operators: == ~= > >= < <= ~~ (regex) ~* (regex, ignore
 * case) in has ipmatch. Compiled once per route; evaluation only reads variables.
 *
 * The Admin API compiles `vars` with this same function before a write, and a data-plane
 * node when it loads the item, so what one accepts the other applies. Errors carry
 * lua-resty-expr's wording where it has one; the admin prefixes them with
 * `failed to validate the 'vars' expression: `, as APISIX does.
 */

/** Reads request variables: uri, request_uri, request_method, host, remote_addr, arg_*, http_*, cookie_* ... */
export interface VarSource {
  lookupVar(name: string): string | undefined;
}

export type CompiledExpr = (vars: VarSource) => boolean;

type Op = '==' | '~=' | '>' | '>=' | '<' | '<=' | '~~' | '~*' | 'in' | 'has' | 'ipmatch';
const OPS = new Set<string>(['==', '~=', '>', '>=', '<', '<=', '~~', '~*', 'in', 'has', 'ipmatch']);
const LOGIC = new Set(['AND', 'OR', '!AND', '!OR']);

/**
 * How deep `vars` lists may nest. lua-resty-expr sets no limit of its own (Lua's recursion
 * does); real expressions nest two or three levels, and a bound keeps a stored value from
 * exhausting the stack of every node that compiles it.
 */
export const MAX_VARS_DEPTH = 32;

/** Throws an Error whose message says what is wrong with the expression. */
export function compileExpr(rules: unknown): CompiledExpr {
  if (!Array.isArray(rules)) throw new Error('vars must be an array');
  return compileList(rules, 1);
}

function compileList(list: unknown[], depth: number): CompiledExpr {
  if (depth > MAX_VARS_DEPTH) throw new Error(`expression nested deeper than ${MAX_VARS_DEPTH} levels`);
  let logic = 'AND';
  let items = list;
  if (typeof list[0] === 'string' && LOGIC.has(list[0])) {
    logic = list[0];
    items = list.slice(1);
  }
  const parts = items.map((item) => {
    if (!Array.isArray(item)) throw new Error(`invalid vars expression: ${JSON.stringify(item)}`);
    if (Array.isArray(item[0]) || (typeof item[0] === 'string' && LOGIC.has(item[0]))) return compileList(item, depth + 1);
    return compileCondition(item);
  });
  const negate = logic.startsWith('!');
  if (logic.endsWith('OR')) {
    return (vars) => parts.some((p) => p(vars)) !== negate;
  }
  return (vars) => parts.every((p) => p(vars)) !== negate;
}

function compileCondition(item: unknown[]): CompiledExpr {
  let [name, op, value] = item as [unknown, unknown, unknown];
  let negate = false;
  if (op === '!') {
    negate = true;
    op = item[2];
    value = item[3];
  }
  if (typeof name !== 'string' || name.length === 0) throw new Error(`invalid vars variable: ${JSON.stringify(name)}`);
  if (typeof op !== 'string') throw new Error(`invalid vars operator: ${JSON.stringify(op)}`);
  if (!OPS.has(op)) throw new Error(`invalid operator '${op}'`);
  const test = compileOp(op as Op, value);
  const n = name;
  return negate ? (vars) => !test(vars.lookupVar(n)) : (vars) => test(vars.lookupVar(n));
}

function compileOp(op: Op, value: unknown): (v: string | undefined) => boolean {
  switch (op) {
    case '==': {
      const s = String(value);
      return (v) => v !== undefined && v === s;
    }
    case '~=': {
      const s = String(value);
      return (v) => v === undefined || v !== s;
    }
    case '>': case '>=': case '<': case '<=': {
      const n = Number(value);
      if (!Number.isFinite(n)) throw new Error(`operator ${op} needs a number, got ${JSON.stringify(value)}`);
      return (v) => {
        if (v === undefined) return false;
        const x = Number(v);
        if (!Number.isFinite(x)) return false;
        return op === '>' ? x > n : op === '>=' ? x >= n : op === '<' ? x < n : x <= n;
      };
    }
    case '~~': case '~*': {
      if (typeof value !== 'string') throw new Error(`operator ${op} needs a regex string`);
      // Linear-time regexes only: the match runs on the event loop against request data.
      const re = compileConfigRegex(value, op === '~*' ? 'i' : '');
      return (v) => v !== undefined && re.test(v);
    }
    case 'in': {
      if (!Array.isArray(value)) throw new Error('operator in needs an array');
      const set = new Set(value.map(String));
      return (v) => v !== undefined && set.has(v);
    }
    case 'has': {
      // A variable holding a list (repeated header/arg) arrives joined with ", ".
      const s = String(value);
      return (v) => v !== undefined && v.split(/,\s*/).includes(s);
    }
    case 'ipmatch': {
      const list = new net.BlockList();
      for (const cidr of Array.isArray(value) ? value : [value]) addCidr(list, String(cidr));
      return (v) => v !== undefined && checkIp(list, v);
    }
  }
}

/** Adds an address or CIDR to a BlockList; throws on a malformed one. */
export function addCidr(list: net.BlockList, cidr: string): void {
  const slash = cidr.indexOf('/');
  const addr = slash >= 0 ? cidr.slice(0, slash) : cidr;
  const family = net.isIPv4(addr) ? 'ipv4' : net.isIPv6(addr) ? 'ipv6' : undefined;
  if (!family) throw new Error(`invalid IP address ${JSON.stringify(cidr)}`);
  if (slash < 0) {
    list.addAddress(addr, family);
    return;
  }
  const bits = Number(cidr.slice(slash + 1));
  if (!Number.isInteger(bits) || bits < 0 || bits > (family === 'ipv4' ? 32 : 128)) {
    throw new Error(`invalid CIDR ${JSON.stringify(cidr)}`);
  }
  list.addSubnet(addr, bits, family);
}

export function checkIp(list: net.BlockList, ip: string): boolean {
  if (net.isIPv4(ip)) return list.check(ip, 'ipv4');
  if (net.isIPv6(ip)) return list.check(ip, 'ipv6');
  return false;
}
