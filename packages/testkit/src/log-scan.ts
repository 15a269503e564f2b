import fs from 'node:fs';
import path from 'node:path';
import { readRegisteredSecrets, type RegisteredSecret } from './log-capture';

/**
 * The end-of-run secret-leak scan (see log-capture.ts): every `*.log` file under the capture
 * directory is searched for every registered secret value — as written, JSON-escaped (how a
 * value looks inside a JSON log line) and base64-encoded. A finding names the file, the line
 * and the secret's reference; it never carries the value.
 *
 * Run as a script (scripts/run-tests.sh does, through ts-node):
 *   node -r ts-node/register/transpile-only packages/testkit/src/log-scan.ts <capture-dir>
 * It prints the findings and a summary to stderr and writes `<capture-dir>/scan.json`
 * (`{files, secrets, leaks}`); it exits 1 when something leaked.
 */

export interface LeakFinding {
  file: string;
  /** 1-based line of the first occurrence in the file */
  line: number;
  /** the registered reference of the secret */
  ref: string;
  /** how the value appeared */
  form: 'raw' | 'json-escaped' | 'base64';
}

interface Needle {
  ref: string;
  form: LeakFinding['form'];
  text: string;
}

function needlesFor(secrets: RegisteredSecret[]): Needle[] {
  const out: Needle[] = [];
  for (const s of secrets) {
    out.push({ ref: s.ref, form: 'raw', text: s.value });
    const escaped = JSON.stringify(s.value).slice(1, -1);
    if (escaped !== s.value) out.push({ ref: s.ref, form: 'json-escaped', text: escaped });
    // base64 of a value depends on its alignment in a longer text; the value alone is the
    // common case (a payload logged as received).
    out.push({ ref: s.ref, form: 'base64', text: Buffer.from(s.value, 'utf8').toString('base64').replace(/=+$/, '') });
  }
  return out.filter((n) => n.text.length > 0);
}

/**
 * Secret references (`$secret://aws/john/apisix-secrets/john-key-auth`) are meant to be logged:
 * they name a secret, not its value. A value can be a substring of its own reference (the
 * walkthrough's key `john-key` is in `john-key-auth`), so references are blanked before the
 * search — with same-length filler, so line numbers stay right.
 */
const REFERENCE = /\$(?:secret|env|ENV):\/\/[^\s"'\\,}]*/g;
function maskReferences(text: string): string {
  return text.replace(REFERENCE, (m) => '_'.repeat(m.length));
}

function countLines(text: string, end: number): number {
  let n = 0;
  for (let i = text.indexOf('\n'); i !== -1 && i < end; i = text.indexOf('\n', i + 1)) n++;
  return n;
}

/** Findings in one text (first occurrence per secret and form). `file` labels them. */
export function scanText(raw: string, secrets: RegisteredSecret[], file = '<text>'): LeakFinding[] {
  const text = maskReferences(raw);
  const findings: LeakFinding[] = [];
  for (const n of needlesFor(secrets)) {
    const at = text.indexOf(n.text);
    if (at !== -1) findings.push({ file, line: countLines(text, at) + 1, ref: n.ref, form: n.form });
  }
  return findings;
}

const CHUNK = 4 * 1024 * 1024;

/** Findings in one file, read in chunks (the captures of a whole run can be large). */
export function scanFile(file: string, secrets: RegisteredSecret[]): LeakFinding[] {
  const needles = needlesFor(secrets);
  if (needles.length === 0) return [];
  const overlap = Math.max(...needles.map((n) => n.text.length)) - 1;
  const found = new Map<string, LeakFinding>();
  const fd = fs.openSync(file, 'r');
  try {
    const buf = Buffer.alloc(CHUNK);
    let carry = '';
    let linesBeforeCarry = 0;
    for (;;) {
      const read = fs.readSync(fd, buf, 0, CHUNK, null);
      const text = maskReferences(carry + buf.toString('utf8', 0, read));
      for (const n of needles) {
        const key = `${n.ref}\u0000${n.form}`;
        if (found.has(key)) continue;
        const at = text.indexOf(n.text);
        if (at !== -1) found.set(key, { file, line: linesBeforeCarry + countLines(text, at) + 1, ref: n.ref, form: n.form });
      }
      if (read === 0) break;
      const keep = Math.min(overlap, text.length);
      carry = text.slice(text.length - keep);
      linesBeforeCarry += countLines(text, text.length - keep);
    }
  } finally {
    fs.closeSync(fd);
  }
  return [...found.values()];
}

/** `*.log` files that are data, not logs: the embedded store's write-ahead file holds resources. */
const NOT_LOGS = new Set(['store.log']);

/** Every `*.log` file under dir (recursively), skipping the secrets registry and data files. */
export function findLogFiles(dir: string): string[] {
  const out: string[] = [];
  const walk = (d: string): void => {
    let entries: fs.Dirent[];
    try {
      entries = fs.readdirSync(d, { withFileTypes: true });
    } catch {
      return;
    }
    for (const e of entries) {
      const p = path.join(d, e.name);
      if (e.isDirectory()) {
        if (!(d === dir && e.name === 'secrets')) walk(p);
      } else if (e.isFile() && e.name.endsWith('.log') && !NOT_LOGS.has(e.name)) {
        out.push(p);
      }
    }
  };
  walk(dir);
  return out.sort();
}

export interface ScanResult {
  files: number;
  secrets: number;
  findings: LeakFinding[];
}

/** Scans a run's capture directory for every secret registered during the run. */
export function scanCaptureDir(dir: string): ScanResult {
  const secrets = readRegisteredSecrets(dir);
  const files = findLogFiles(dir);
  const findings: LeakFinding[] = [];
  for (const f of files) findings.push(...scanFile(f, secrets));
  return { files: files.length, secrets: secrets.length, findings };
}

/** The report lines of a scan: files and references, never values. */
export function describeScan(dir: string, r: ScanResult): string[] {
  const lines = r.findings.map((f) => `log scan: secret ${f.ref} (${f.form}) appears in ${path.relative(dir, f.file)}:${f.line}`);
  lines.push(`log scan: ${r.files} log file(s) scanned for ${r.secrets} secret value(s): ${r.findings.length} leak(s)`);
  return lines;
}

if (require.main === module) {
  const dir = process.argv[2];
  if (!dir) {
    process.stderr.write('usage: log-scan <capture-dir>\n');
    process.exit(2);
  }
  const r = scanCaptureDir(dir);
  for (const line of describeScan(dir, r)) process.stderr.write(`${line}\n`);
  fs.writeFileSync(path.join(dir, 'scan.json'), JSON.stringify({ files: r.files, secrets: r.secrets, leaks: r.findings.length }));
  process.exit(r.findings.length > 0 ? 1 : 0);
}
