import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { SERVICE_NODE_FLAGS } from '../bench/processes.js';

test('the V8 flags of the service agree everywhere it is started', () => {
  const flags = SERVICE_NODE_FLAGS.join(' ');
  const read = (file: string): string => readFileSync(new URL(`../${file}`, import.meta.url), 'utf8');
  assert.equal(read('src/cli/main.ts').split('\n')[0], `#!/usr/bin/env -S node ${flags}`);
  const pkg = JSON.parse(read('package.json')) as { scripts: Record<string, string> };
  assert.equal(pkg.scripts.start, `node ${flags} dist/src/cli/main.js serve`);
  assert.match(read('Makefile'), new RegExp(`^NODE_FLAGS = ${flags}$`, 'm'));
  const entrypoint = JSON.stringify(['node', ...SERVICE_NODE_FLAGS, 'dist/src/cli/main.js']).replace(
    /,/g,
    ', ',
  );
  assert.ok(read('Dockerfile').includes(`ENTRYPOINT ${entrypoint}`), 'Dockerfile ENTRYPOINT');
});
