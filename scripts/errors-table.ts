/**
 * Writes docs/errors.md from src/errors/codes.ts (`npm run docs:errors`), or with
 * --check fails when the committed file differs (CI's drift check): each code's
 * meaning is written once, in the table the API answers from.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { format } from 'prettier';
import { ERROR_CODES } from '../src/errors/codes.js';
import { STORE_ERROR_CODES, type StoreErrorCode } from '../src/store/store-errors.js';
import { STORE_ANSWERS } from '../src/api/error-handler.js';

const FILE = 'docs/errors.md';
const cell = (s: string): string => s.replace(/\|/g, '\\|');
const text = [
  '# Error codes',
  '',
  'Every error response is `{"error": "<what went wrong>", "code": "<CODE>"}` (a 400 may add `details`:',
  '`[{"path", "message"}]`, one per problem). This holds for errors the routes raise and for those the',
  'HTTP server raises before a route runs (timeouts, malformed requests, unknown methods, bad URLs). Codes are',
  'stable: never renamed or reused. Generated from `src/errors/codes.ts` by `npm run docs:errors`.',
  '',
  '| code | HTTP status | meaning |',
  '|---|---|---|',
  ...Object.entries(ERROR_CODES).map(([code, v]) => `| \`${code}\` | ${v.status} | ${cell(v.doc)} |`),
  '',
  '## Store errors',
  '',
  'Every store adapter (SQLite, PostgreSQL, MongoDB) throws one `StoreError` whose `code` is one of these,',
  'whatever its driver said (`src/store/store-errors.ts`; each adapter sorts its own driver errors in',
  '`src/store/<kind>/<kind>-errors.ts`, and the contract suite checks the codes on every store). The API',
  'answers by the code alone:',
  '',
  '| store code | meaning | API answer |',
  '|---|---|---|',
  ...(Object.keys(STORE_ERROR_CODES) as StoreErrorCode[]).map(
    (code) =>
      `| \`${code}\` | ${cell(STORE_ERROR_CODES[code])} | \`${STORE_ANSWERS[code].code}\` (${ERROR_CODES[STORE_ANSWERS[code].code].status}) |`,
  ),
  '',
].join('\n');
const next = await format(text, { parser: 'markdown', filepath: FILE });

if (process.argv.includes('--check')) {
  let current = '';
  try {
    current = readFileSync(FILE, 'utf8');
  } catch {
    // missing counts as drift
  }
  if (current !== next) {
    console.error(`${FILE} differs from src/errors/codes.ts; run npm run docs:errors`);
    process.exit(1);
  }
  console.log(`${FILE}: matches src/errors/codes.ts`);
} else {
  writeFileSync(FILE, next);
  console.log(`wrote ${FILE}`);
}
