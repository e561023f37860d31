/**
 * Issue 25's cluster test: three nodes on PostgreSQL + Redis, 200 schedules firing every second
 * for 60 s, nodes killed with SIGKILL and restarted at random all along (two at once, once): every
 * occurrence makes exactly one message (counted by idempotency key), none is missing, and every one
 * is delivered.
 */
import assert from 'node:assert/strict';
import { before, test } from 'node:test';
import pg from 'pg';
import { Sink } from '../../bench/sink.js';
import { waitFor } from '../helpers/app.js';
import { occurrenceKey } from '../../src/domain/schedule.js';
import { ScheduleService } from '../../src/schedules/schedule-service.js';
import { CHAOS_URLS, report, serve, services, target, rng, type Service } from './helpers.js';

before(() => services('up'));

const SCHEDULES = 200;
const SECONDS = 60;
const NODES = 3;

const SEED = Number(process.env.CHAOS_SEED ?? Date.now() % 100_000);

test(`three nodes on PostgreSQL + Redis: ${SCHEDULES} schedules every second for ${SECONDS} s, nodes killed at random: one message per occurrence, none missing`, async () => {
  const random = rng(SEED);
  const sink = new Sink({ port: 0, keep: 0 });
  const sinkUrl = `http://127.0.0.1:${await sink.start()}/hook`;
  const t = target('postgres');
  const store = await t.open();
  const nodes: (Service | null)[] = [];
  const env = {
    ...t.env,
    REDIS_URI: CHAOS_URLS.redis,
    CACHE_KEY_PREFIX: `${t.env.DATABASE_SCHEMA ?? 'chaos'}:`,
    POOL_INITIAL_JOB_FETCH: 'true',
    POOL_NUM_WORKERS: '32',
    POOL_LEASE_TIMEOUT: '3s',
    WEBHOOK_CLIENT_TIMEOUT: '1s',
    // a killed node is known dead within 1.5 s: its leases come back then
    POOL_HEARTBEAT_INTERVAL: '250ms',
    POOL_NODE_TIMEOUT: '1500ms',
    LOG_LEVEL: 'info',
  };
  let kills = 0;
  try {
    for (let i = 0; i < NODES; i++) nodes.push(await serve(env, sinkUrl));
    // the first occurrence a few seconds from now, on a whole second; the last SECONDS - 1 s later
    const start = Math.ceil((Date.now() + 3000) / 1000) * 1000;
    const service = new ScheduleService({ store, exists: async () => true });
    for (let i = 0; i < SCHEDULES; i++) {
      await service.create(
        {
          id: `s${String(i).padStart(3, '0')}`,
          every: '1s',
          start_at: new Date(start).toISOString(),
          end_at: new Date(start + (SECONDS - 1) * 1000).toISOString(),
          message: { content: `tick ${i}`, recipient_phone_number: '+15550100' },
        },
        new Date(),
      );
    }
    // kills until the last occurrence: one node every 2–6 s, two at once once, each back after 0–2 s
    const endAt = start + SECONDS * 1000;
    let both = false;
    while (Date.now() < endAt - 2000) {
      await new Promise((r) => setTimeout(r, 2000 + random() * 4000));
      const victims =
        !both && Date.now() > start + (SECONDS * 1000) / 2 ? [0, 1] : [Math.floor(random() * NODES)];
      if (victims.length === 2) both = true;
      for (const v of victims) {
        await nodes[v]?.stop('SIGKILL');
        nodes[v] = null;
        kills++;
      }
      await new Promise((r) => setTimeout(r, random() * 2000));
      for (const v of victims) nodes[v] = await serve(env, sinkUrl);
    }
    const expected = SCHEDULES * SECONDS;
    const c = new pg.Client({ connectionString: CHAOS_URLS.postgres });
    await c.connect();
    const schema = t.env.DATABASE_SCHEMA ?? '';
    const count = async (): Promise<{ keys: number; messages: number; sent: number }> => {
      const { rows } = await c.query<{ keys: string; messages: string; sent: string }>(
        `SELECT count(DISTINCT idempotency_key) AS keys, count(*) AS messages,
                count(*) FILTER (WHERE status = 'sent') AS sent
         FROM "${schema}".messages WHERE idempotency_key LIKE 'schedule:%'`,
      );
      const r = rows[0];
      return { keys: Number(r?.keys), messages: Number(r?.messages), sent: Number(r?.sent) };
    };
    try {
      await waitFor(async () => (await count()).sent >= expected, 120_000, 'every occurrence sent');
      const figures = await count();
      // exactly the occurrences: every schedule's 60 instants, and nothing else
      const { rows } = await c.query<{ idempotency_key: string }>(
        `SELECT idempotency_key FROM "${schema}".messages WHERE idempotency_key LIKE 'schedule:%'`,
      );
      const got = new Set(rows.map((r) => r.idempotency_key));
      const missing: string[] = [];
      for (let i = 0; i < SCHEDULES; i++) {
        for (let k = 0; k < SECONDS; k++) {
          const key = occurrenceKey(`s${String(i).padStart(3, '0')}`, new Date(start + k * 1000));
          if (!got.has(key)) missing.push(key);
        }
      }
      const late = await c.query<{ p50: number; p99: number; max: number }>(
        `SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY ms) AS p50,
                percentile_cont(0.99) WITHIN GROUP (ORDER BY ms) AS p99, max(ms) AS max
         FROM (SELECT extract(epoch FROM sent_at - send_at) * 1000 AS ms
               FROM "${schema}".messages WHERE idempotency_key LIKE 'schedule:%') l`,
      );
      const ended = await c.query<{ n: string }>(
        `SELECT count(*) AS n FROM "${schema}".schedules WHERE status = 'ended' AND run_count = $1`,
        [SECONDS],
      );
      const stats = sink.stats();
      report('schedules/postgres+redis', {
        seed: SEED,
        schedules: SCHEDULES,
        seconds: SECONDS,
        occurrences: expected,
        kills,
        messages: figures.messages,
        distinct_keys: figures.keys,
        missing: missing.length,
        sent: figures.sent,
        schedules_ended_with_60_runs: Number(ended.rows[0]?.n),
        delivered_unique: stats.unique_webhook_ids,
        delivered_repeats: stats.duplicates,
        lateness_ms: {
          p50: Math.round(Number(late.rows[0]?.p50)),
          p99: Math.round(Number(late.rows[0]?.p99)),
          max: Math.round(Number(late.rows[0]?.max)),
        },
      });
      assert.deepEqual(missing.slice(0, 5), [], `${missing.length} occurrences made no message`);
      assert.equal(figures.messages, expected, 'one message per occurrence');
      assert.equal(figures.keys, expected);
      assert.equal(Number(ended.rows[0]?.n), SCHEDULES, 'every schedule ran 60 times and ended');
      assert.equal(stats.unique_webhook_ids, expected, 'every occurrence delivered');
    } finally {
      await c.end();
    }
  } finally {
    for (const n of nodes) await n?.stop('SIGKILL');
    await store.close();
    await t.drop();
    await sink.stop();
  }
});
