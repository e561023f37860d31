/**
 * Writes the OpenAPI document the service serves at /swagger/json to
 * docs/openapi.json (`npm run openapi`), or with --check fails when the
 * committed file differs (CI's drift check). The document is read from the
 * app `serve` builds, in the default configuration, through its own route:
 * what a client fetches is what is compared, whatever routes that adds.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createApp } from '../src/app/app.js';
import { silentLogger } from '../src/logging/logger.js';
import { loadConfig } from '../src/config/config.js';

const FILE = 'docs/openapi.json';
const dir = mkdtempSync(join(tmpdir(), 'ms-openapi-'));
// the shipped configuration, as `serve` reads it from the repository (the store in a scratch folder)
const config = loadConfig({ SQLITE_PATH: join(dir, 'messages.db'), POOL_INITIAL_JOB_FETCH: 'false' });
const app = await createApp(config, silentLogger());
let doc: string;
try {
  const served = await app.server.inject({ method: 'GET', url: '/swagger/json' });
  if (served.statusCode !== 200) throw new Error(`/swagger/json answered ${served.statusCode}`);
  doc = JSON.stringify(JSON.parse(served.body), null, 2) + '\n';
} finally {
  await app.close();
  rmSync(dir, { recursive: true, force: true });
}

if (process.argv.includes('--check')) {
  let current = '';
  try {
    current = readFileSync(FILE, 'utf8');
  } catch {
    // missing counts as drift
  }
  if (current !== doc) {
    process.stderr.write(
      `${FILE} differs from what /swagger/json serves: run npm run openapi and commit it\n`,
    );
    process.exit(1);
  }
  process.stdout.write(`${FILE} matches what /swagger/json serves\n`);
} else {
  writeFileSync(FILE, doc);
  process.stdout.write(`wrote ${FILE}\n`);
}
