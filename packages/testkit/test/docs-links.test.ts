import fs from 'node:fs';
import path from 'node:path';

/**
 * The repository's documentation must work in a clone: every relative link in README.md,
 * docs/ and bench/ points at a file of the repository (and, with `#anchor`, at a heading of
 * it), and nothing points outside the repository except public http(s) URLs.
 */
const root = path.resolve(__dirname, '../../..');

function markdownFiles(): string[] {
  const files = ['README.md'];
  for (const dir of ['docs', 'bench']) {
    const abs = path.join(root, dir);
    if (!fs.existsSync(abs)) continue;
    for (const f of fs.readdirSync(abs)) if (f.endsWith('.md')) files.push(`${dir}/${f}`);
  }
  return files;
}

/** GitHub's heading anchors: lower case, punctuation dropped, spaces to hyphens. */
function anchorsOf(markdown: string): Set<string> {
  const anchors = new Set<string>();
  let inFence = false;
  for (const line of markdown.split('\n')) {
    if (line.startsWith('```')) inFence = !inFence;
    const m = !inFence && /^#{1,6}\s+(.*)$/.exec(line);
    if (m) anchors.add(m[1].trim().toLowerCase().replace(/[^\p{L}\p{N}\s_-]/gu, '').replace(/\s/g, '-'));
  }
  return anchors;
}

/** `[text](target)` links outside code fences and inline code. */
function linksOf(markdown: string): string[] {
  const out: string[] = [];
  let inFence = false;
  for (const line of markdown.split('\n')) {
    if (line.startsWith('```')) inFence = !inFence;
    if (inFence) continue;
    const text = line.replace(/`[^`]*`/g, '');
    for (const m of text.matchAll(/\]\(([^)\s]+)\)/g)) out.push(m[1]);
  }
  return out;
}

describe('documentation links', () => {
  const files = markdownFiles();

  it('finds the documents', () => {
    expect(files).toEqual(expect.arrayContaining(['README.md', 'docs/architecture.md', 'bench/README.md']));
  });

  it.each(files)('%s links only into the repository or to public URLs', (file) => {
    const text = fs.readFileSync(path.join(root, file), 'utf8');
    expect(text).not.toMatch(/\.\.\/shared\//);
    const broken: string[] = [];
    for (const link of linksOf(text)) {
      if (/^https?:\/\//.test(link) || link.startsWith('mailto:')) continue;
      const [target, anchor] = link.split('#');
      const abs = target === '' ? path.join(root, file) : path.resolve(path.dirname(path.join(root, file)), target);
      if (path.relative(root, abs).startsWith('..') || !fs.existsSync(abs)) {
        broken.push(`${link}: no such file in the repository`);
      } else if (anchor && abs.endsWith('.md') && !anchorsOf(fs.readFileSync(abs, 'utf8')).has(anchor)) {
        broken.push(`${link}: no heading for #${anchor}`);
      }
    }
    expect(broken).toEqual([]);
  });
});
