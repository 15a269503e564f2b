import Ajv, { ErrorObject, ValidateFunction } from 'ajv';
import { consumerSchema } from './consumer';
import { credentialSchema } from './credential';
import { PLUGIN_DEFINITIONS } from './plugins';
import { checkRouteRules, routeSchema } from './route';
import { SECRET_MANAGER_SCHEMAS } from './secret';
import { upstreamSchema } from './upstream';

/** Resource kinds whose values are validated by `validateResource`. */
export type ValidatedKind = 'route' | 'upstream' | 'consumer' | 'credential' | 'secret';

const ajv = new Ajv({ allErrors: false, strict: false });
const compiled = new Map<object, ValidateFunction>();
function compile(schema: object): ValidateFunction {
  let fn = compiled.get(schema);
  if (!fn) {
    fn = ajv.compile(schema);
    compiled.set(schema, fn);
  }
  return fn;
}

const RESOURCE_SCHEMAS: Record<Exclude<ValidatedKind, 'secret'>, object> = {
  route: routeSchema,
  upstream: upstreamSchema,
  consumer: consumerSchema,
  credential: credentialSchema,
};

function typeOf(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'array';
  if (typeof v === 'number') return Number.isInteger(v) ? 'integer' : 'number';
  return typeof v;
}

function valueAt(root: unknown, instancePath: string): unknown {
  let cur: any = root;
  for (const seg of instancePath.split('/').slice(1)) cur = cur?.[seg.replace(/~1/g, '/').replace(/~0/g, '~')];
  return cur;
}

/** The innermost reason, worded like APISIX's jsonschema validator. */
function reason(e: ErrorObject, root: unknown): string {
  const v = valueAt(root, e.instancePath);
  const p = e.params as Record<string, any>;
  switch (e.keyword) {
    case 'type': return `wrong type: expected ${p.type}, got ${typeOf(v)}`;
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
    case 'uniqueItems': return 'expected unique items but items are duplicated';
    case 'dependentRequired': case 'dependencies': return `property "${p.missingProperty}" is required when "${p.property}" is set`;
    default: return e.message ?? 'invalid';
  }
}

/**
 * `property "a" validation failed: property "b" validation failed: <reason>` — the nesting
 * APISIX users see. Errors of an anyOf's branches are folded into the anyOf's own message.
 */
export function formatSchemaError(errors: ErrorObject[], root: unknown): string {
  const anyOf = errors.find((e) => e.keyword === 'anyOf' || e.keyword === 'oneOf');
  const e = anyOf ?? errors[0];
  const path = e.instancePath.split('/').slice(1).map((s) => s.replace(/~1/g, '/').replace(/~0/g, '~'));
  let msg = reason(e, root);
  for (let i = path.length - 1; i >= 0; i--) msg = `property "${path[i]}" validation failed: ${msg}`;
  return msg;
}

export type ValidationResult = { ok: true } | { ok: false; message: string };

function checkSchema(schema: object, value: unknown): ValidationResult {
  const fn = compile(schema);
  if (fn(value)) return { ok: true };
  return { ok: false, message: formatSchemaError(fn.errors ?? [], value) };
}

/**
 * Validates the plugins object of a route/service (`consumer: false`) or a consumer/credential
 * (`consumer: true`, where only auth plugins with a consumer schema are allowed). Messages are
 * the full admin `error_msg` (`unknown plugin [x]`, `failed to check the configuration of plugin x err: ...`).
 */
export function checkPlugins(plugins: unknown, forConsumer: boolean): string | undefined {
  if (plugins === undefined) return undefined;
  if (typeof plugins !== 'object' || plugins === null || Array.isArray(plugins)) {
    return 'invalid configuration: property "plugins" validation failed: wrong type: expected object, got ' + typeOf(plugins);
  }
  for (const [name, conf] of Object.entries(plugins)) {
    const def = PLUGIN_DEFINITIONS[name];
    if (!def) return `unknown plugin [${name}]`;
    const schema = forConsumer ? def.consumerSchema : def.schema;
    if (!schema) return `failed to check the configuration of plugin ${name} err: plugin can not be used on a consumer`;
    const r = checkSchema(schema, conf);
    if (!r.ok) return `failed to check the configuration of plugin ${name} err: ${r.message}`;
  }
  return undefined;
}

/**
 * Validates a resource value as stored (timestamps allowed). Returns the admin `error_msg`
 * text on failure. `manager` selects the secret schema for kind `secret`.
 */
export function validateResource(kind: ValidatedKind, value: unknown, manager?: string): ValidationResult {
  let schema: object | undefined;
  if (kind === 'secret') {
    schema = manager ? SECRET_MANAGER_SCHEMAS[manager] : undefined;
    if (!schema) return { ok: false, message: `invalid configuration: unsupported secret manager ${manager}` };
  } else {
    schema = RESOURCE_SCHEMAS[kind];
  }
  const r = checkSchema(schema, value);
  if (!r.ok) return { ok: false, message: `invalid configuration: ${r.message}` };
  const obj = value as Record<string, unknown>;
  if (kind === 'route') {
    const rule = checkRouteRules(obj);
    if (rule) return { ok: false, message: `invalid configuration: ${rule}` };
  }
  if (kind === 'route' || kind === 'consumer' || kind === 'credential') {
    const pluginError = checkPlugins(obj.plugins, kind !== 'route');
    if (pluginError) return { ok: false, message: pluginError };
  }
  if (kind === 'credential') {
    const names = Object.keys((obj.plugins as object | undefined) ?? {});
    if (names.length !== 1) {
      return { ok: false, message: 'invalid configuration: a credential must hold exactly one auth plugin' };
    }
  }
  return { ok: true };
}
