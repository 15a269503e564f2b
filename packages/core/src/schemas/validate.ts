import Ajv2020, { ErrorObject, ValidateFunction } from 'ajv/dist/2020';
import { consumerSchema } from './consumer';
import { credentialSchema } from './credential';
import { pluginMetadataSchema } from './plugin-metadata';
import { consumerGroupSchema, globalRuleSchema, pluginConfigSchema } from './plugin-sets';
import { PLUGIN_DEFINITIONS } from './plugins';
import { checkRouteRules, checkRouteVars, routeSchema } from './route';
import { SECRET_MANAGER_SCHEMAS } from './secret';
import { checkServiceRules, serviceSchema } from './service';
import { checkSslRules, sslSchema } from './ssl';
import { checkUpstreamRules, upstreamSchema } from './upstream';
import type { ResourceName } from '../keys';
import { isPlainObject } from '../plain-object';

/** Resource kinds whose values are validated by `validateResource`. */
export type ValidatedKind = 'route' | 'service' | 'upstream' | 'consumer' | 'credential' | 'secret' | 'ssl'
  | 'global_rule' | 'plugin_config' | 'consumer_group' | 'plugin_metadata';

/** The kind of the values stored under each resource of the key layout (SPEC §2). */
export const RESOURCE_KINDS: Readonly<Record<ResourceName, ValidatedKind>> = {
  routes: 'route',
  services: 'service',
  upstreams: 'upstream',
  consumers: 'consumer',
  credentials: 'credential',
  secrets: 'secret',
  ssls: 'ssl',
  global_rules: 'global_rule',
  plugin_configs: 'plugin_config',
  consumer_groups: 'consumer_group',
  plugin_metadata: 'plugin_metadata',
};

// JSON Schema 2020-12, the dialect of OpenAPI 3.1: the admin API publishes these very schemas.
const ajv = new Ajv2020({ allErrors: false, strict: false });
const compiled = new Map<object, ValidateFunction>();
function compile(schema: object): ValidateFunction {
  let fn = compiled.get(schema);
  if (!fn) {
    fn = ajv.compile(schema);
    compiled.set(schema, fn);
  }
  return fn;
}

/** Schemas of the kinds that have exactly one (secrets: per manager; plugin_metadata: per plugin). */
export const RESOURCE_SCHEMAS: Readonly<Record<Exclude<ValidatedKind, 'secret' | 'plugin_metadata'>, object>> = {
  route: routeSchema,
  service: serviceSchema,
  upstream: upstreamSchema,
  consumer: consumerSchema,
  credential: credentialSchema,
  ssl: sslSchema,
  global_rule: globalRuleSchema,
  plugin_config: pluginConfigSchema,
  consumer_group: consumerGroupSchema,
};

/**
 * The JSON schema a value of `kind` is checked against; `scope` is the secret manager (kind
 * `secret`) or the plugin name (kind `plugin_metadata`). Undefined when the scope is unknown.
 */
export function schemaFor(kind: ValidatedKind, scope?: string): object | undefined {
  if (kind === 'secret') return scope !== undefined && Object.hasOwn(SECRET_MANAGER_SCHEMAS, scope) ? SECRET_MANAGER_SCHEMAS[scope] : undefined;
  if (kind === 'plugin_metadata') return scope === undefined ? undefined : pluginMetadataSchema(scope);
  return RESOURCE_SCHEMAS[kind];
}

/**
 * A JSON value's type as APISIX's schema messages name it ("wrong type: expected string, got
 * number"): every number is "number", 1 as much as 1.5, as in APISIX (Lua has one number type).
 */
export function jsonTypeName(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'array';
  return typeof v;
}

function valueAt(root: unknown, instancePath: string): unknown {
  let cur: unknown = root;
  for (const seg of instancePath.split('/').slice(1)) cur = (cur as Record<string, unknown> | null | undefined)?.[seg.replace(/~1/g, '/').replace(/~0/g, '~')];
  return cur;
}

/** The innermost reason, worded like APISIX's jsonschema validator. */
function reason(e: ErrorObject, root: unknown): string {
  const v = valueAt(root, e.instancePath);
  const p = e.params as Record<string, unknown>;
  switch (e.keyword) {
    case 'type': return `wrong type: expected ${p.type}, got ${jsonTypeName(v)}`;
    case 'additionalProperties': return `additional properties forbidden, found ${p.additionalProperty}`;
    case 'required': return `property "${p.missingProperty}" is required`;
    case 'minLength': return `string too short, expected at least ${p.limit}, got ${String(v).length}`;
    case 'maxLength': return `string too long, expected at most ${p.limit}, got ${String(v).length}`;
    case 'pattern': return `failed to match pattern "${p.pattern}" with "${String(v).slice(0, 100)}"`;
    case 'enum': return `matches none of the enum values`;
    case 'anyOf': case 'oneOf': return 'object matches none of the required';
    case 'minimum': case 'exclusiveMinimum': return `expected ${v} to be ${e.keyword === 'minimum' ? 'at least' : 'greater than'} ${p.limit}`;
    case 'maximum': return `expected ${v} to be at most ${p.limit}`;
    case 'minItems': return `expect array to have at least ${p.limit} items`;
    case 'maxItems': return `expect array to have at most ${p.limit} items`;
    // Ajv's j is the earlier duplicate; APISIX numbers both from 1.
    case 'uniqueItems': return `expected unique items but items ${Number(p.j) + 1} and ${Number(p.i) + 1} are equal`;
    case 'dependentRequired': case 'dependencies': return `property "${p.missingProperty}" is required when "${p.property}" is set`;
    default: return e.message ?? 'invalid';
  }
}

/** How one step of an error's instance path was reached from its parent, per APISIX's wording. */
type PathStep = { kind: 'property' } | { kind: 'item' } | { kind: 'pattern'; pattern: string } | { kind: 'additional' };

function unescapePointer(s: string): string {
  return s.replace(/~1/g, '/').replace(/~0/g, '~');
}

/**
 * The steps of the schema path that descend into the instance (`properties/x`, `items`,
 * `prefixItems/i`, `patternProperties/p`, `additionalProperties`), in order. Applicator
 * keywords that stay on the same instance (anyOf, allOf, if/then, ...) are skipped. The last
 * segment is the failing keyword itself and descends nowhere.
 */
function descentSteps(schemaPath: string): PathStep[] {
  const segs = schemaPath.replace(/^#/, '').split('/').slice(1, -1).map(unescapePointer);
  const steps: PathStep[] = [];
  for (let i = 0; i < segs.length; i++) {
    switch (segs[i]) {
      case 'properties': steps.push({ kind: 'property' }); i++; break;
      case 'patternProperties': steps.push({ kind: 'pattern', pattern: segs[i + 1] ?? '' }); i++; break;
      case 'additionalProperties': steps.push({ kind: 'additional' }); break;
      case 'items': case 'additionalItems': steps.push({ kind: 'item' }); break;
      case 'prefixItems': steps.push({ kind: 'item' }); i++; break;
      // Keywords naming a subschema by index or name: skip the name too.
      case 'anyOf': case 'oneOf': case 'allOf': case 'dependentSchemas': case '$defs': case 'definitions': i++; break;
      default: break; // not, if, then, else, contains: same instance
    }
  }
  return steps;
}

/**
 * `property "a" validation failed: failed to validate item 1: <reason>` — the nesting APISIX
 * users see: properties by name, array items numbered from 1, pattern properties with their
 * pattern. Errors of an anyOf's branches are folded into the anyOf's own message.
 */
export function formatSchemaError(errors: ErrorObject[], root: unknown): string {
  const anyOf = errors.find((e) => e.keyword === 'anyOf' || e.keyword === 'oneOf');
  const e = anyOf ?? errors[0];
  const path = e.instancePath.split('/').slice(1).map(unescapePointer);
  let steps = descentSteps(e.schemaPath);
  if (steps.length !== path.length) {
    // A schema path this walk does not understand: tell items from properties by the data.
    const raw = e.instancePath.split('/');
    steps = path.map((_, i) => (Array.isArray(valueAt(root, raw.slice(0, i + 1).join('/'))) ? { kind: 'item' } : { kind: 'property' }));
  }
  let msg = reason(e, root);
  for (let i = path.length - 1; i >= 0; i--) {
    const step = steps[i];
    const seg = path[i];
    if (step.kind === 'item') msg = `failed to validate item ${Number(seg) + 1}: ${msg}`;
    else if (step.kind === 'pattern') msg = `failed to validate ${seg} (matching "${step.pattern}"): ${msg}`;
    else if (step.kind === 'additional') msg = `failed to validate additional property ${seg}: ${msg}`;
    else msg = `property "${seg}" validation failed: ${msg}`;
  }
  return msg;
}

export type ValidationResult = { ok: true } | { ok: false; message: string };

function checkSchema(schema: object, value: unknown): ValidationResult {
  const fn = compile(schema);
  if (fn(value)) return { ok: true };
  return { ok: false, message: formatSchemaError(fn.errors ?? [], value) };
}

/**
 * Validates the plugins object of a route/service (`forConsumer: false`), a consumer
 * (`forConsumer: true`) or a credential (`forConsumer: 'credential'`). On a consumer, auth
 * plugins are checked against their consumer schema and every other plugin against its route
 * schema (they override the route's after authentication, SPEC §6); a credential holds auth
 * plugins only. Messages are the full admin `error_msg` (`unknown plugin [x]`,
 * `failed to check the configuration of plugin x err: ...`).
 */
export function checkPlugins(plugins: unknown, forConsumer: boolean | 'credential'): string | undefined {
  if (plugins === undefined) return undefined;
  if (typeof plugins !== 'object' || plugins === null || Array.isArray(plugins)) {
    return 'invalid configuration: property "plugins" validation failed: wrong type: expected object, got ' + jsonTypeName(plugins);
  }
  for (const [name, conf] of Object.entries(plugins)) {
    // Own properties only: `__proto__` or `constructor` must not look like a plugin.
    const def = Object.hasOwn(PLUGIN_DEFINITIONS, name) ? PLUGIN_DEFINITIONS[name] : undefined;
    if (!def) return `unknown plugin [${name}]`;
    const consumerSide = forConsumer !== false && def.type === 'auth';
    if (forConsumer === 'credential' && !consumerSide) {
      return `failed to check the configuration of plugin ${name} err: only auth plugins can be used on a credential`;
    }
    const schema = consumerSide ? def.consumerSchema : def.schema;
    if (!schema) return `failed to check the configuration of plugin ${name} err: plugin can not be used on a consumer`;
    const r = checkSchema(schema, conf);
    if (!r.ok) return `failed to check the configuration of plugin ${name} err: ${r.message}`;
    const rule = !consumerSide && def.check ? def.check(conf as Record<string, unknown>) : undefined;
    if (rule) return `failed to check the configuration of plugin ${name} err: ${rule}`;
  }
  return undefined;
}

/** Kinds whose `plugins` run on routes (route-side plugin schemas). */
const ROUTE_SIDE_PLUGINS: ReadonlySet<ValidatedKind> = new Set(['route', 'service', 'global_rule', 'plugin_config', 'consumer_group']);

/**
 * Validates a resource value as stored (timestamps allowed): the admin API before a write,
 * a data-plane node when it loads an item. Returns the admin `error_msg` text on failure.
 * `scope` is the secret manager (kind `secret`) or the plugin name (kind `plugin_metadata`).
 * Order as APISIX: schema, field rules, then plugin configurations.
 */
export function validateResource(kind: ValidatedKind, value: unknown, scope?: string): ValidationResult {
  const schema = schemaFor(kind, scope);
  if (!schema) {
    return { ok: false, message: kind === 'secret' ? `invalid configuration: unsupported secret manager ${scope}` : 'invalid plugin name' };
  }
  const r = checkSchema(schema, value);
  if (!r.ok) return { ok: false, message: `invalid configuration: ${r.message}` };
  const obj = value as Record<string, unknown>;
  const rule = fieldRules(kind, obj);
  if (rule) return { ok: false, message: rule };
  if (ROUTE_SIDE_PLUGINS.has(kind) || kind === 'consumer' || kind === 'credential') {
    const pluginError = checkPlugins(obj.plugins, kind === 'credential' ? 'credential' : kind === 'consumer');
    if (pluginError) return { ok: false, message: pluginError };
  }
  if (kind === 'route') {
    const varsError = checkRouteVars(obj);
    if (varsError) return { ok: false, message: varsError };
  }
  if (kind === 'credential') {
    const names = Object.keys((obj.plugins as object | undefined) ?? {});
    if (names.length !== 1) {
      return { ok: false, message: 'invalid configuration: a credential must hold exactly one auth plugin' };
    }
  }
  return { ok: true };
}

/** Rules beyond the schema; each returns the whole `error_msg`. */
function fieldRules(kind: ValidatedKind, obj: Record<string, unknown>): string | undefined {
  switch (kind) {
    case 'route': {
      const rule = checkRouteRules(obj);
      if (rule) return `invalid configuration: ${rule}`;
      return isPlainObject(obj.upstream) ? checkUpstreamRules(obj.upstream) : undefined;
    }
    case 'service': {
      const rule = checkServiceRules(obj);
      if (rule) return `invalid configuration: ${rule}`;
      return isPlainObject(obj.upstream) ? checkUpstreamRules(obj.upstream) : undefined;
    }
    case 'upstream':
      return checkUpstreamRules(obj);
    case 'ssl':
      return checkSslRules(obj);
    default:
      return undefined;
  }
}
