/**
 * docs/architecture.md matches the tree: it names every folder of src/, and in the order the
 * layer check of `npm run lint` enforces (.dependency-cruiser.cjs); src/ holds folders only.
 */
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { test } from 'node:test';

const require = createRequire(import.meta.url);

test('docs/architecture.md lists the layers of src/ in the order lint enforces', () => {
  const { LAYERS } = require('../.dependency-cruiser.cjs') as { LAYERS: string[] };
  const doc = readFileSync('docs/architecture.md', 'utf8');
  const table = doc.slice(doc.indexOf('<!-- layers:start -->'), doc.indexOf('<!-- layers:end -->'));
  const documented = [...table.matchAll(/^\| `([a-z-]+)` /gm)].map((m) => m[1]);
  assert.deepEqual(
    documented,
    LAYERS,
    'the table and .dependency-cruiser.cjs name the same layers in the same order',
  );
  const entries = readdirSync('src', { withFileTypes: true });
  assert.deepEqual(
    entries.filter((e) => !e.isDirectory()).map((e) => e.name),
    [],
    'src/ holds folders only: each is a layer',
  );
  assert.deepEqual(
    entries.map((e) => e.name).sort(),
    [...LAYERS].sort(),
    'every folder of src/ is a layer, and every layer a folder',
  );
});
