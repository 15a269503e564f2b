import { readFileSync } from 'node:fs';
import { parse as parseYaml } from 'yaml';
import Ajv from 'ajv';
import { ConfigError } from '../errors';
import { isPlainObject } from '../plain-object';
import { DEFAULT_CONFIG, PorticoConfig } from './defaults';
import { configSchema } from './schema';
import { substituteEnv } from './substitute';

const validateConfig = new Ajv({ allErrors: false, strict: false }).compile(configSchema);

/** Objects merge key by key; arrays and scalars from `over` replace those in `base`. */
export function deepMerge<T>(base: T, over: unknown): T {
  if (!isPlainObject(base) || !isPlainObject(over)) return (over === undefined ? base : over) as T;
  const out: Record<string, unknown> = { ...base };
  for (const [k, v] of Object.entries(over)) out[k] = k in out ? deepMerge(out[k], v) : v;
  return out as T;
}

function dotted(instancePath: string): string {
  return instancePath.split('/').filter(Boolean).join('.');
}

/** Parses config.yaml text (after env substitution), merges defaults, validates. */
export function parseConfig(text: string, env: NodeJS.ProcessEnv = process.env): PorticoConfig {
  let user: unknown;
  try {
    user = parseYaml(substituteEnv(text, env)) ?? {};
  } catch (err) {
    if (err instanceof ConfigError) throw err;
    throw new ConfigError(`config.yaml: invalid YAML: ${(err as Error).message}`);
  }
  if (!isPlainObject(user)) throw new ConfigError('config.yaml: the top level must be a mapping');
  const merged = deepMerge(DEFAULT_CONFIG, user);
  if (!validateConfig(merged)) {
    const e = validateConfig.errors![0];
    const at = dotted(e.instancePath);
    // anyOf errors name only the first branch ("must be integer"); say what is accepted.
    if (at === 'apisix.workers') throw new ConfigError('config.yaml: apisix.workers must be an integer from 1 to 256 or "auto"');
    if (e.keyword === 'additionalProperties') {
      const extra = (e.params as { additionalProperty: string }).additionalProperty;
      throw new ConfigError(`config.yaml: unknown key ${at ? `${at}.` : ''}${extra}`);
    }
    throw new ConfigError(`config.yaml: ${at || '(root)'} ${e.message}`);
  }
  checkSemantics(merged);
  return merged;
}

function checkSemantics(cfg: PorticoConfig): void {
  const { role, config_provider } = cfg.deployment;
  if (role !== 'traditional' && config_provider !== 'etcd') {
    throw new ConfigError(`config.yaml: deployment.role ${role} requires deployment.config_provider: etcd`);
  }
}

/** Reads and parses a config file; a missing file is an error naming the path. */
export function loadConfig(path: string, env: NodeJS.ProcessEnv = process.env): PorticoConfig {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new ConfigError(`cannot read configuration file ${path}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
  return parseConfig(text, env);
}
