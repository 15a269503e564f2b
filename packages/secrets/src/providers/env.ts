import { SecretNotFoundError } from '../errors';
import { readJsonField } from '../json-field';
import type { SecretProvider } from '../provider';

/** Reads `NAME` or `NAME/field` (a field of the variable's JSON value) from the environment. */
export function readEnv(name: string, field: string | undefined, env: NodeJS.ProcessEnv = process.env): string {
  const value = env[name];
  if (value === undefined) throw new SecretNotFoundError(`environment variable ${name} is not set`);
  return field === undefined ? value : readJsonField(value, field, `environment variable ${name}`);
}

/** The `$env://` provider: the path is `NAME` or `NAME/field`. */
export function createEnvProvider(env: NodeJS.ProcessEnv = process.env): SecretProvider {
  return {
    async get(path: string): Promise<string> {
      const slash = path.indexOf('/');
      return slash < 0 ? readEnv(path, undefined, env) : readEnv(path.slice(0, slash), path.slice(slash + 1), env);
    },
  };
}
