/**
 * Pushes between nodes over both transports (src/cluster/signals.ts): PostgreSQL LISTEN/NOTIFY,
 * which the store owns (signalTransport), and Redis pub/sub. A second subscriber stands for the
 * other node; a LISTEN connection the server kills is taken again and signals flow once more.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import pg from 'pg';
import { TransportSignals, type Signal } from '../src/cluster/signals.js';
import { RedisTransport } from '../src/cluster/redis-transport.js';
import { PostgresStore } from '../src/store/postgres/postgres-store.js';
import { canSignal } from '../src/store/signal-transport.js';
import { loadConfig } from '../src/config/config.js';
import { silentLogger } from '../src/logging/logger.js';
import { serviceUrl, uniqueName } from './helpers/services.js';
import { waitFor } from './helpers/app.js';

const pgUrl = serviceUrl('DATABASE_URL');
const redisUrl = serviceUrl('REDIS_URI');

async function pair(
  make: () => TransportSignals,
): Promise<{ a: TransportSignals; b: TransportSignals; got: Signal[] }> {
  const a = make();
  const b = make();
  const got: Signal[] = [];
  b.onSignal((s) => got.push(s));
  await Promise.all([a.start(), b.start()]);
  return { a, b, got };
}

describe('cluster signals over PostgreSQL', { skip: !pgUrl && 'DATABASE_URL not set' }, () => {
  test('the store carries them; a killed LISTEN connection is taken again', async (ctx) => {
    const schema = uniqueName('sig');
    const store = new PostgresStore({ connectionString: pgUrl ?? '', schema, poolSize: 1 });
    ctx.after(() => store.close());
    assert.ok(canSignal(store), 'a PostgreSQL store can signal');
    const { a, b, got } = await pair(() => new TransportSignals(store.signalTransport(), silentLogger()));
    ctx.after(() => Promise.all([a.close(), b.close()]));
    a.publish('state');
    await waitFor(() => got.includes('state'), 5000, 'state from the other node');
    a.publish('wake');
    a.publish('wake');
    await waitFor(() => got.includes('wake'), 5000, 'a wake');

    const admin = new pg.Client({ connectionString: pgUrl ?? '' });
    await admin.connect();
    ctx.after(() => admin.end());
    const channel = `ms_signals_${schema}`;
    const killed = await admin.query(
      `SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE query = $1`,
      [`LISTEN "${channel}"`],
    );
    assert.equal(killed.rowCount, 2, 'both LISTEN connections killed');
    got.length = 0;
    // taken again within a second or so; until then a signal is lost (polling makes it up)
    await waitFor(
      () => {
        a.publish('state');
        return got.includes('state');
      },
      10_000,
      'a state signal after the LISTEN connection came back',
    );
  });

  test('closed while a LISTEN connection is being made: that connection is ended, not left open', async (ctx) => {
    const schema = uniqueName('sigc');
    const store = new PostgresStore({ connectionString: pgUrl ?? '', schema, poolSize: 1 });
    ctx.after(() => store.close());
    const transport = store.signalTransport();
    assert.ok(transport);
    // close() comes while subscribe() is connecting, as when a node stops during a resubscription
    const subscribing = transport.subscribe(
      () => undefined,
      () => undefined,
    );
    await transport.close();
    await subscribing.catch(() => undefined);
    const admin = new pg.Client({ connectionString: pgUrl ?? '' });
    await admin.connect();
    ctx.after(() => admin.end());
    const { rows } = await admin.query<{ n: string }>(
      `SELECT count(*) AS n FROM pg_stat_activity WHERE query = $1`,
      [`LISTEN "ms_signals_${schema}"`],
    );
    assert.equal(Number(rows[0]?.n), 0, 'no LISTEN connection left behind');
  });

  test('other stores carry none', async () => {
    const { SqliteStore } = await import('../src/store/sqlite/sqlite-store.js');
    const s = new SqliteStore({ path: ':memory:' });
    assert.equal(canSignal(s), false);
    await s.close();
  });
});

describe('cluster signals over Redis', { skip: !redisUrl && 'REDIS_URI not set' }, () => {
  test('pub/sub between two subscribers of one channel', async (ctx) => {
    const channel = uniqueName('ms:signals');
    const redis = loadConfig({ REDIS_URI: redisUrl ?? '' }).redis;
    assert.ok(redis);
    const { a, b, got } = await pair(
      () => new TransportSignals(new RedisTransport(redis, channel), silentLogger()),
    );
    ctx.after(() => Promise.all([a.close(), b.close()]));
    a.publish('state');
    a.publish('wake');
    await waitFor(() => got.includes('state') && got.includes('wake'), 5000, 'both signals');
  });
});
