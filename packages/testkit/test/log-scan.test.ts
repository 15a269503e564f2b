import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { LOG_CAPTURE_ENV, readRegisteredSecrets, registerSecretValue } from '../src/log-capture';
import { describeScan, findLogFiles, scanCaptureDir, scanFile, scanText } from '../src/log-scan';

// Fixture values: registered in the fixture directory only, never in the real run's registry,
// so the run's own scan does not look for them.
const RAW = 'fixture-leaked-api-key-0001';
const QUOTED = 'fixture "quoted" pass\\word';
const B64 = 'fixture-base64-only-secret';
const CLEAN = 'fixture-never-logged-secret';

describe('secret-leak log scan', () => {
  let dir: string;
  const saved = process.env[LOG_CAPTURE_ENV];

  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'portico-scan-fixture-'));
    process.env[LOG_CAPTURE_ENV] = dir;
    registerSecretValue(RAW, '$secret://aws/a1/raw-key');
    registerSecretValue(QUOTED, '$secret://vault/v1/quoted/pw');
    registerSecretValue(B64, '$secret://gcp/g1/b64');
    registerSecretValue(CLEAN, '$secret://gcp/g1/clean');
    registerSecretValue('short', 'too short to scan for');
    process.env[LOG_CAPTURE_ENV] = saved;
  });
  afterEach(() => {
    process.env[LOG_CAPTURE_ENV] = saved;
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('reads the registry of every process, dropping values too short to scan for', () => {
    fs.appendFileSync(path.join(dir, 'secrets', '999999.jsonl'), `${JSON.stringify({ ref: 'other', b64: Buffer.from(RAW).toString('base64') })}\n{torn`);
    const secrets = readRegisteredSecrets(dir);
    expect(secrets.map((s) => s.ref).sort()).toEqual(['$secret://aws/a1/raw-key', '$secret://gcp/g1/b64', '$secret://gcp/g1/clean', '$secret://vault/v1/quoted/pw']);
  });

  it('finds raw, JSON-escaped and base64 leaks in worker, jest and child-process logs, naming file, line and reference only', () => {
    fs.writeFileSync(path.join(dir, 'worker-1.log'), `ok\nok\n{"level":40,"msg":"key ${RAW} rejected"}\n`);
    fs.writeFileSync(path.join(dir, 'jest-stderr.log'), `${JSON.stringify({ pw: QUOTED })}\n`);
    fs.mkdirSync(path.join(dir, 'tmp', 'portico-dp1-x'), { recursive: true });
    fs.writeFileSync(path.join(dir, 'tmp', 'portico-dp1-x', 'portico.log'), `payload ${Buffer.from(B64).toString('base64')}\n`);
    fs.writeFileSync(path.join(dir, 'tmp', 'portico-dp1-x', 'store.db'), RAW); // not a log
    fs.mkdirSync(path.join(dir, 'tmp', 'portico-dp1-x', 'data'));
    fs.writeFileSync(path.join(dir, 'tmp', 'portico-dp1-x', 'data', 'store.log'), RAW); // the embedded store's data, not a log
    fs.writeFileSync(path.join(dir, 'clean.log'), 'nothing secret here\n');

    const result = scanCaptureDir(dir);
    expect(result.secrets).toBe(4);
    expect(result.files).toBe(4);
    const rel = result.findings.map((f) => ({ ...f, file: path.relative(dir, f.file) }));
    expect(rel).toEqual(expect.arrayContaining([
      { file: 'worker-1.log', line: 3, ref: '$secret://aws/a1/raw-key', form: 'raw' },
      { file: 'jest-stderr.log', line: 1, ref: '$secret://vault/v1/quoted/pw', form: 'json-escaped' },
      { file: path.join('tmp', 'portico-dp1-x', 'portico.log'), line: 1, ref: '$secret://gcp/g1/b64', form: 'base64' },
    ]));
    expect(rel).toHaveLength(3);
    expect(rel.some((f) => f.ref === '$secret://gcp/g1/clean')).toBe(false);

    const report = describeScan(dir, result).join('\n');
    expect(report).toContain('worker-1.log:3');
    expect(report).toContain('$secret://aws/a1/raw-key');
    expect(report).toContain('3 leak(s)');
    for (const v of [RAW, QUOTED, B64, CLEAN, Buffer.from(B64).toString('base64')]) expect(report).not.toContain(v);
  });

  it('finds nothing in clean logs, and never scans the registry itself', () => {
    fs.writeFileSync(path.join(dir, 'worker-1.log'), 'all good\n');
    expect(findLogFiles(dir).map((f) => path.relative(dir, f))).toEqual(['worker-1.log']);
    expect(scanCaptureDir(dir).findings).toEqual([]);
  });

  it('finds a value that straddles a read chunk, with the right line number', () => {
    const file = path.join(dir, 'big.log');
    const line = `${'x'.repeat(1023)}\n`;
    const lines = Math.floor((4 * 1024 * 1024) / line.length); // exactly one 4 MiB chunk of lines
    const fd = fs.openSync(file, 'w');
    for (let i = 0; i < lines - 1; i++) fs.writeSync(fd, line);
    fs.writeSync(fd, `${'y'.repeat(1024 - 10)}${RAW}\n`); // starts 10 bytes before the chunk end
    fs.closeSync(fd);
    const secrets = readRegisteredSecrets(dir);
    expect(scanFile(file, secrets)).toEqual([{ file, line: lines, ref: '$secret://aws/a1/raw-key', form: 'raw' }]);
    expect(scanText(`a\nb ${RAW}`, secrets)).toEqual([{ file: '<text>', line: 2, ref: '$secret://aws/a1/raw-key', form: 'raw' }]);
  });

  it('does not mistake a reference that contains the value for a leak', () => {
    const secrets = [{ ref: 'aws:apisix-secrets/john-key-auth', value: 'john-key' }];
    const line = '{"ref":"$secret://aws/john/apisix-secrets/john-key-auth","msg":"secret reference changed"}';
    expect(scanText(line, secrets)).toEqual([]);
    expect(scanText(`${line}\n{"apikey":"john-key"}`, secrets)).toEqual([{ file: '<text>', line: 2, ref: 'aws:apisix-secrets/john-key-auth', form: 'raw' }]);
  });
});
