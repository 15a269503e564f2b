import { readFileSync } from 'node:fs';
import * as path from 'node:path';
import { NODE_FLAGS, missingNodeFlags } from '../src/v8-flags';

const ROOT = path.join(__dirname, '../../..');

/** cli/src/v8-flags.ts: the node flags Portico is started with, and where they are given. */
describe('node flags', () => {
  it('missingNodeFlags finds a flag on the command line or in NODE_OPTIONS, by name and in either spelling', () => {
    expect(NODE_FLAGS).toContain('--max-semi-space-size=32');
    expect(missingNodeFlags([], '')).toEqual([...NODE_FLAGS]);
    expect(missingNodeFlags(['--max-semi-space-size=32'], '')).toEqual([]);
    expect(missingNodeFlags([], '--require x --max-semi-space-size=32')).toEqual([]);
    expect(missingNodeFlags(['--max_semi_space_size=64'], '')).toEqual([]); // the operator's own value counts
    expect(missingNodeFlags(['--max-old-space-size=32'], '--max-semi-space')).toEqual([...NODE_FLAGS]);
  });

  it('make run, the main.js shebang and the container image start Portico with every one of them', () => {
    const run = /^run:.*\n\t(.*)$/m.exec(readFileSync(path.join(ROOT, 'Makefile'), 'utf8'))?.[1] ?? '';
    const shebang = readFileSync(path.join(ROOT, 'packages/cli/src/main.ts'), 'utf8').split('\n')[0];
    const image = /^ENV NODE_OPTIONS="(.*)"$/m.exec(readFileSync(path.join(ROOT, 'deploy/Dockerfile'), 'utf8'))?.[1] ?? '';
    expect(run).toMatch(/^node .*packages\/cli\/dist\/main\.js start/);
    expect(shebang).toMatch(/^#!\/usr\/bin\/env -S node /);
    for (const flag of NODE_FLAGS) {
      expect(run.split(' ')).toContain(flag);
      expect(shebang.split(' ')).toContain(flag);
      expect(image.split(' ')).toContain(flag);
    }
  });
});
