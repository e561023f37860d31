/**
 * Writes the OpenAPI document the running service serves at /swagger/json to
 * docs/openapi.json (`npm run openapi`), or with --check fails when the
 * committed file differs (CI's drift check).
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { buildServer } from '../src/api/server.js';
import { SqliteStore } from '../src/store/sqlite/sqlite-store.js';
import { MemoryCache } from '../src/cache/cache.js';
import { silentLogger } from '../src/logging/logger.js';
import { VERSION } from '../src/app.js';
import { loadConfig } from '../src/config/config.js';
import { createAccess } from '../src/auth/create-access.js';

const FILE = 'docs/openapi.json';
const store = new SqliteStore({ path: ':memory:' });
await store.init();
// the document of the default configuration (no OAuth2 token URL, the default rate limit)
const access = await createAccess(loadConfig({}, '/nonexistent'), store, silentLogger());
const app = await buildServer({
  store,
  cache: new MemoryCache(),
  pool: { getState: () => 'running', setState: async (s) => s, nodes: async () => [] },
  onCreated: () => undefined,
  logger: silentLogger(),
  version: VERSION,
  access: access.access,
});
await app.ready();
const doc = JSON.stringify(app.swagger(), null, 2) + '\n';
await app.close();
await access.close();
await store.close();

if (process.argv.includes('--check')) {
  let current = '';
  try {
    current = readFileSync(FILE, 'utf8');
  } catch {
    // missing counts as drift
  }
  if (current !== doc) {
    process.stderr.write(
      `${FILE} is out of date with the route schemas: run npm run openapi and commit it\n`,
    );
    process.exit(1);
  }
  process.stdout.write(`${FILE} matches the route schemas\n`);
} else {
  writeFileSync(FILE, doc);
  process.stdout.write(`wrote ${FILE}\n`);
}
