import fs from 'node:fs';
import path from 'node:path';
import { configSchema } from '../src/config/schema';

/**
 * docs/configuration.md promises to list every config.yaml key and every PORTICO_* environment
 * variable Portico reads. This keeps the promise: a key added to the schema, or a variable read
 * by the code or the shipped config files, fails here until it is documented.
 */
const root = path.resolve(__dirname, '../../..');
const doc = fs.readFileSync(path.join(root, 'docs/configuration.md'), 'utf8');

interface SchemaNode {
  type?: string | string[];
  properties?: Record<string, SchemaNode>;
  items?: SchemaNode;
}

/** Dotted paths of the schema's leaves; array items that are objects continue as `name[].field`. */
function leafPaths(node: SchemaNode, prefix = ''): string[] {
  if (node.properties) {
    return Object.entries(node.properties).flatMap(([k, child]) => leafPaths(child, prefix ? `${prefix}.${k}` : k));
  }
  if (node.items?.properties) return [prefix, ...leafPaths(node.items, `${prefix}[]`)];
  return [prefix];
}

function filesUnder(dir: string, out: string[] = []): string[] {
  for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) filesUnder(p, out);
    else if (/\.(ts|js)$/.test(e.name)) out.push(p);
  }
  return out;
}

/** PORTICO_* names in the packages' source and the config files the repository ships. */
function variablesRead(): string[] {
  const files = fs.readdirSync(path.join(root, 'packages'))
    .map((p) => path.join(root, 'packages', p, 'src'))
    .filter((d) => fs.existsSync(d))
    .flatMap((d) => filesUnder(d));
  files.push(path.join(root, 'config.yaml'), path.join(root, 'deploy/k8s/config.yaml'));
  const names = new Set<string>();
  for (const f of files) for (const m of fs.readFileSync(f, 'utf8').matchAll(/PORTICO_[A-Z0-9_]*[A-Z0-9]/g)) names.add(m[0]);
  return [...names].sort();
}

describe('docs/configuration.md', () => {
  it('names every config.yaml key of the schema, as a dotted path', () => {
    const keys = leafPaths(configSchema as unknown as SchemaNode);
    // The walk itself must see the keys the issue named, or it proves nothing.
    expect(keys).toEqual(expect.arrayContaining(['apisix.workers', 'apisix.idle_gc', 'apisix.http.keepalive_timeout',
      'apisix.http.max_header_size', 'deployment.etcd.tls.ca', 'deployment.admin.admin_key[].role', 'control.port']));
    const missing = keys.filter((k) => !doc.includes(`\`${k}\``));
    expect(missing).toEqual([]);
  });

  it('names every PORTICO_* environment variable the code and shipped configs read', () => {
    const vars = variablesRead();
    expect(vars).toEqual(expect.arrayContaining(['PORTICO_NODE_ID', 'PORTICO_LOG_LEVEL', 'PORTICO_ROLE']));
    const missing = vars.filter((v) => !doc.includes(`\`${v}\``));
    expect(missing).toEqual([]);
  });
});
