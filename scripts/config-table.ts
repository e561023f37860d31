/**
 * Writes the configuration tables of docs/configuration.md from src/config/keys.ts (`npm run
 * docs:config`), or with --check fails when that file differs (CI's drift check).
 * The tables sit between `<!-- config-table:start -->` and `<!-- config-table:end -->`.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { format } from 'prettier';
import { CONFIG_KEYS, ENV_ONLY } from '../src/config/keys.js';

const FILE = 'docs/configuration.md';
const START = '<!-- config-table:start -->';
const END = '<!-- config-table:end -->';

const cell = (s: string): string => s.replace(/\|/g, '\\|');
const lines = [
  '| file key | environment variable | type | default | meaning |',
  '|---|---|---|---|---|',
  ...CONFIG_KEYS.map(
    (k) =>
      `| \`${k.key}\` | \`${k.env}\` | ${k.type} | \`${String(k.default) === '' ? '(empty)' : String(k.default)}\` | ${cell(k.doc)} |`,
  ),
  '',
  '| environment variable | default | meaning |',
  '|---|---|---|',
  ...ENV_ONLY.map(
    (k) => `| \`${k.env}\` | ${k.default === '' ? '(unset)' : '`' + k.default + '`'} | ${cell(k.doc)} |`,
  ),
];

const readme = readFileSync(FILE, 'utf8');
const a = readme.indexOf(START);
const b = readme.indexOf(END);
if (a < 0 || b < a) throw new Error(`${FILE}: the ${START} … ${END} markers are missing`);
const next = await format(
  readme.slice(0, a + START.length) + '\n\n' + lines.join('\n') + '\n\n' + readme.slice(b),
  {
    parser: 'markdown',
    filepath: FILE,
  },
);

if (process.argv.includes('--check')) {
  if (next !== readme) {
    console.error(
      `${FILE}: the configuration tables differ from src/config/keys.ts; run npm run docs:config`,
    );
    process.exit(1);
  }
  console.log(`${FILE}: configuration tables match src/config/keys.ts`);
} else {
  writeFileSync(FILE, next);
  console.log(`wrote the configuration tables in ${FILE}`);
}
