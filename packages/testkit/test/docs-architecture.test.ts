import fs from 'node:fs';
import path from 'node:path';

/**
 * docs/architecture.md is the map of the code as it is. This keeps it so: every package and
 * every folder under packages/<name>/src must be named on it, and what each package imports
 * from the others must be what its row of the package table allows, which in turn must keep
 * the rules that never change (admin and gateway apart, core on the floor, testkit unshipped).
 */
const root = path.resolve(__dirname, '../../..');
const doc = fs.readFileSync(path.join(root, 'docs/architecture.md'), 'utf8');
const packages = fs.readdirSync(path.join(root, 'packages'))
  .filter((p) => fs.existsSync(path.join(root, 'packages', p, 'package.json')))
  .sort();

function dirsUnder(dir: string): string[] {
  return fs.readdirSync(dir, { withFileTypes: true })
    .filter((e) => e.isDirectory())
    .flatMap((e) => [path.join(dir, e.name), ...dirsUnder(path.join(dir, e.name))]);
}

function filesUnder(dir: string): string[] {
  return fs.readdirSync(dir, { withFileTypes: true })
    .flatMap((e) => (e.isDirectory() ? filesUnder(path.join(dir, e.name)) : /\.(ts|js)$/.test(e.name) ? [path.join(dir, e.name)] : []));
}

/** The doc names `p` as a path: followed by neither another path character nor more path. */
function names(p: string): boolean {
  const escaped = p.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  return new RegExp(`${escaped}(?![\\w.-]|/[\\w])`).test(doc);
}

/** `@portico/<name>` packages a package's source imports (static, dynamic or require). */
function importsOf(pkg: string): string[] {
  const found = new Set<string>();
  for (const f of filesUnder(path.join(root, 'packages', pkg, 'src'))) {
    for (const m of fs.readFileSync(f, 'utf8').matchAll(/(?:from|import\(|require\()\s*'@portico\/([a-z0-9-]+)/g)) {
      if (m[1] !== pkg) found.add(m[1]);
    }
  }
  return [...found].sort();
}

/** The package table's last column: the packages a row allows, by backticked name. */
function allowedFor(pkg: string): string[] | undefined {
  const row = doc.split('\n').find((l) => l.startsWith(`| \`packages/${pkg}\` |`));
  if (!row) return undefined;
  const cells = row.split('|').map((c) => c.trim()).filter(Boolean);
  return [...cells[cells.length - 1].matchAll(/`([a-z0-9-]+)`/g)].map((m) => m[1]).sort();
}

describe('docs/architecture.md', () => {
  it('names every package and every source folder', () => {
    expect(packages).toEqual(expect.arrayContaining(['admin', 'core', 'gateway']));
    const folders = packages.flatMap((p) => {
      const src = path.join(root, 'packages', p, 'src');
      return [`packages/${p}`, ...(fs.existsSync(src) ? [src, ...dirsUnder(src)].map((d) => path.relative(root, d).split(path.sep).join('/')) : [])];
    });
    expect(folders).toContain('packages/http1/src');
    expect(folders.filter((f) => !names(f))).toEqual([]);
  });

  it('has a package-table row for every package, and each imports only what its row allows', () => {
    for (const p of packages) {
      const allowed = allowedFor(p);
      expect({ p, hasRow: allowed !== undefined }).toEqual({ p, hasRow: true });
      const extra = importsOf(p).filter((i) => !allowed!.includes(i));
      expect({ p, importsNotAllowed: extra }).toEqual({ p, importsNotAllowed: [] });
    }
  });

  it('keeps the rules that never change', () => {
    expect(allowedFor('core')).toEqual([]);
    expect(allowedFor('admin')).not.toContain('gateway');
    expect(allowedFor('gateway')).not.toContain('admin');
    for (const p of packages) if (p !== 'testkit') expect({ p, importsTestkit: importsOf(p).includes('testkit') }).toEqual({ p, importsTestkit: false });
  });
});
