import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadConfig, type Config } from '../../src/config/config.js';
import { createApp, type App, type AppOverrides } from '../../src/app/app.js';
import { silentLogger, type Logger } from '../../src/logging/logger.js';

/** A whole app on a fresh SQLite file (or the given store), with test-friendly defaults. */
export async function testApp(
  env: Record<string, string> = {},
  overrides: AppOverrides = {},
  logger: Logger = silentLogger(),
): Promise<{ app: App; config: Config; cleanup(): Promise<void> }> {
  const dir = mkdtempSync(join(tmpdir(), 'ms-app-'));
  const config = loadConfig(
    {
      CONFIG_PATH: '.config',
      CONFIG_ENV: 'dev',
      SQLITE_PATH: join(dir, 'messages.db'),
      WEBHOOK_URL: 'http://127.0.0.1:9/unused',
      POOL_INITIAL_JOB_FETCH: 'false',
      WORKER_JOB_INTERVAL: '50ms',
      // every test talks from 127.0.0.1: one bucket for the whole file. The limiter's own tests turn it on.
      API_RATE_LIMITER_ENABLED: 'false',
      ...env,
    },
    process.cwd(),
  );
  const app = await createApp(config, logger, overrides);
  return {
    app,
    config,
    async cleanup() {
      await app.close();
      rmSync(dir, { recursive: true, force: true });
      // a test that leaves deliveries running fails here rather than leaking them into the next
      if (app.pool.inFlightCount !== 0)
        throw new Error(`${app.pool.inFlightCount} deliveries still in flight after close`);
    },
  };
}

export async function waitFor(
  cond: () => Promise<boolean> | boolean,
  timeoutMs = 10_000,
  what = 'condition',
): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (Date.now() < end) {
    if (await cond()) return;
    await new Promise((r) => setTimeout(r, 20));
  }
  throw new Error(`timed out waiting for ${what}`);
}
