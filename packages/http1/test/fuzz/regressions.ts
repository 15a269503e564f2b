import fs from 'node:fs';
import path from 'node:path';
import type { RequestStream } from './request-streams';
import type { UpstreamCase } from './upstream-responses';

/**
 * Fixed regression cases: streams the fuzz once found a difference with (shrunk), replayed by
 * every `make test`. `make fuzz` appends what it finds; a case is kept after its fix.
 */
export interface Regressions {
  server: Array<{ note: string; stream: RequestStream }>;
  client: Array<{ note: string; case: UpstreamCase }>;
}

export const REGRESSIONS_FILE = path.join(__dirname, 'regression-cases.json');

export function loadRegressions(): Regressions {
  const r = JSON.parse(fs.readFileSync(REGRESSIONS_FILE, 'utf8')) as Partial<Regressions>;
  return { server: r.server ?? [], client: r.client ?? [] };
}

/** Adds cases not already there (same bytes), and writes the file. */
export function saveRegressions(add: Partial<Regressions>): number {
  const r = loadRegressions();
  const seen = new Set([...r.server.map((c) => JSON.stringify(c.stream)), ...r.client.map((c) => JSON.stringify(c.case))]);
  let added = 0;
  for (const c of add.server ?? []) {
    if (seen.has(JSON.stringify(c.stream))) continue;
    r.server.push(c);
    added++;
  }
  for (const c of add.client ?? []) {
    if (seen.has(JSON.stringify(c.case))) continue;
    r.client.push(c);
    added++;
  }
  fs.writeFileSync(REGRESSIONS_FILE, JSON.stringify(r, null, 1) + '\n');
  return added;
}
