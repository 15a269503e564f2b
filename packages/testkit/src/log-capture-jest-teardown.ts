import fs from 'node:fs';
import { captureDir, OWNER_ENV } from './log-capture';
import { describeScan, scanCaptureDir } from './log-scan';

/**
 * jest globalTeardown: when jest made the capture directory itself, scans it now and fails the
 * run on a leak (naming files and references only); run-tests.sh scans after jest instead, so
 * jest's own final output is covered too.
 */
async function tearDownRunCapture(): Promise<void> {
  const dir = captureDir();
  if (!dir || process.env[OWNER_ENV] !== 'jest') return;
  const result = scanCaptureDir(dir);
  const lines = describeScan(dir, result);
  if (result.findings.length > 0) throw new Error(`secret values leaked into logs (captures kept in ${dir}):\n${lines.join('\n')}`);
  process.stderr.write(`${lines[lines.length - 1]}\n`);
  fs.rmSync(dir, { recursive: true, force: true });
}

/** jest `globalTeardown` (jest.config.ts): see tearDownRunCapture. */
export default function globalTeardown(): Promise<void> {
  return tearDownRunCapture();
}
