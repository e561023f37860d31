import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import pg from 'pg';
import { MongoClient } from 'mongodb';
import { Sink } from '../bench/sink.js';
import { serviceUrl, uniqueName } from './helpers/services.js';
import { waitFor } from './helpers/app.js';

const CLI = ['--import', 'tsx', 'src/cli/main.ts'];

function run(args: string[], env: Record<string, string>): ChildProcess & { output: () => string } {
  // the store is chosen by these: only what the test gives counts
  const base = { ...process.env };
  for (const k of ['MONGODB_URI', 'DATABASE_URL', 'REDIS_URI', 'SQLITE_PATH']) delete base[k];
  const child = spawn(process.execPath, [...CLI, ...args], {
    env: { ...base, LOG_LEVEL: 'warn', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout?.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr?.on('data', (d: Buffer) => (out += d.toString()));
  return Object.assign(child, { output: () => out });
}

function exited(child: ChildProcess): Promise<number | null> {
  return new Promise((resolve) => {
    if (child.exitCode !== null) resolve(child.exitCode);
    else child.once('exit', (code) => resolve(code));
  });
}

let port = 3900 + (process.pid % 50) * 2;
const dirs: string[] = [];
after(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));

async function serveSeedAndDeliver(env: Record<string, string>): Promise<void> {
  const sink = new Sink({ port: 0 });
  const sinkPort = await sink.start();
  const apiPort = port++;
  const child = run(['serve', '--seed'], {
    PORT: String(apiPort),
    HOST: '127.0.0.1',
    WEBHOOK_URL: `http://127.0.0.1:${sinkPort}/a4d12c37`,
    RATE_LIMITER_ENABLED: 'false',
    WORKER_JOB_INTERVAL: '100ms',
    ...env,
  });
  try {
    // sample/seed.json: 2 already sent, 10 to send, 1 too long for a message
    await waitFor(() => sink.stats().accepted === 10, 30_000, `10 deliveries (${child.output()})`);
    let sent: { content: string; status: string; webhook_response_message_id: string }[] = [];
    await waitFor(
      async () => {
        const r = await fetch(`http://127.0.0.1:${apiPort}/sent-messages`);
        sent = (await r.json()) as typeof sent;
        return sent.length === 12;
      },
      10_000,
      'sent messages stored',
    );
    assert.ok(sent.every((m) => m.status === 'sent'));
    await waitFor(
      async () => {
        const invalid = await (
          await fetch(`http://127.0.0.1:${apiPort}/messages?status=invalid_content`)
        ).json();
        return (invalid as unknown[]).length === 1;
      },
      10_000,
      'the too-long seed row marked invalid_content',
    );
    assert.equal(sink.stats().duplicates, 0);
    const pause = await fetch(`http://127.0.0.1:${apiPort}/worker-pool/state`, {
      method: 'PUT',
      headers: { 'content-type': 'application/json' },
      body: '{"action":"pause"}',
    });
    assert.deepEqual(await pause.json(), { status: 'paused' });
  } finally {
    child.kill('SIGTERM');
    const code = await exited(child);
    await sink.stop();
    assert.equal(code, 0, `graceful exit: ${child.output()}`);
  }
  // seeding again (the seed command) adds nothing
  const again = run(['seed'], env);
  assert.equal(await exited(again), 0);
  assert.match(again.output(), /0 inserted, 13 already there, 0 rejected/);
}

describe('the CLI end to end', () => {
  test('serve --seed on SQLite delivers the seeded messages to the sink and stops cleanly', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'ms-e2e-'));
    dirs.push(dir);
    await serveSeedAndDeliver({ SQLITE_PATH: join(dir, 'messages.db') });
  });

  const pgUrl = serviceUrl('DATABASE_URL');
  test(
    'the same on PostgreSQL, sending from 2 delivery threads',
    { skip: pgUrl === null && 'DATABASE_URL not configured' },
    async () => {
      const schema = uniqueName('e2e');
      try {
        await serveSeedAndDeliver({
          DATABASE_URL: pgUrl ?? '',
          DATABASE_SCHEMA: schema,
          POOL_DELIVERY_THREADS: '2',
        });
      } finally {
        const c = new pg.Client({ connectionString: pgUrl ?? '' });
        await c.connect();
        await c.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
        await c.end();
      }
    },
  );

  const mongoUrl = serviceUrl('MONGODB_URI');
  test(
    'the same on the MongoDB-compatible server',
    { skip: mongoUrl === null && 'MONGODB_URI not configured' },
    async () => {
      const db = uniqueName('e2e');
      try {
        await serveSeedAndDeliver({ MONGODB_URI: mongoUrl ?? '', MESSAGES_DB_NAME: db });
      } finally {
        const c = new MongoClient(mongoUrl ?? '');
        await c.db(db).dropDatabase();
        await c.close();
      }
    },
  );

  test('a bad config value or an unreachable store stops start-up with one line and a non-zero exit', async () => {
    const bad = run(['serve'], { POOL_NUM_WORKERS: 'lots' });
    assert.equal(await exited(bad), 2);
    assert.equal(
      bad.output().trim(),
      'message-scheduler: config: pool.numWorkers (env POOL_NUM_WORKERS) = "lots" is invalid: expected a whole number',
    );
    const down = run(['serve'], { DATABASE_URL: 'postgres://nobody@127.0.0.1:1/none', PORT: String(port++) });
    assert.equal(await exited(down), 1);
    const lines = down
      .output()
      .trim()
      .split('\n')
      .filter((l) => !l.startsWith('{'));
    assert.equal(lines.length, 1, down.output());
    assert.match(lines[0] ?? '', /^message-scheduler: cannot start: PostgreSQL .* ECONNREFUSED/);
  });
});

describe('a second start on a port in use', () => {
  test('`serve --seed` that cannot listen stops before seeding: the store it shares gets nothing', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'ms-e2e-'));
    dirs.push(dir);
    // the first `make run`, still running: its port is held
    const { createServer } = await import('node:net');
    const holder = createServer();
    await new Promise<void>((r) => holder.listen(0, '127.0.0.1', r));
    const held = (holder.address() as { port: number }).port;
    const db = join(dir, 'messages.db');
    try {
      const child = run(['serve', '--seed'], {
        PORT: String(held),
        HOST: '127.0.0.1',
        SQLITE_PATH: db,
        WEBHOOK_URL: 'http://127.0.0.1:9/unused',
      });
      assert.equal(await exited(child), 1, child.output());
      assert.match(child.output(), /cannot listen on 127\.0\.0\.1:\d+: .*another instance/);
      const { default: Database } = await import('better-sqlite3');
      const sqlite = new Database(db, { readonly: true });
      try {
        const { n } = sqlite.prepare('SELECT count(*) AS n FROM messages').get() as { n: number };
        assert.equal(n, 0, 'nothing seeded');
      } finally {
        sqlite.close();
      }
    } finally {
      holder.close();
    }
  });
});
