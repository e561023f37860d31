/**
 * One delivery rate for the cluster: three nodes on one PostgreSQL store and
 * one Redis take from one bucket; with Redis stopped each takes its share, so
 * the cluster still stays within the rate, and it shares again when Redis is back.
 */
import assert from 'node:assert/strict';
import { before, describe, test } from 'node:test';
import { Sink } from '../../bench/sink.js';
import { waitFor } from '../helpers/app.js';
import { CHAOS_URLS, fill, report, serve, services, target, uniqueName, type Service } from './helpers.js';

before(() => services('up'));

const MAX = 20;
const RATE = 20; // per second

/** Samples the receiver's count every 100 ms for `ms`. */
async function sample(sink: Sink, ms: number): Promise<number[]> {
  const out: number[] = [];
  const end = Date.now() + ms;
  while (Date.now() < end) {
    out.push(sink.stats().accepted);
    await new Promise((r) => setTimeout(r, 100));
  }
  out.push(sink.stats().accepted);
  return out;
}

describe('one rate limit for the cluster', () => {
  test('postgres + Redis: three nodes never exceed the bucket; Redis down: still within it; back: shared again', async () => {
    const sink = new Sink({ port: 0, keep: 0 });
    const sinkUrl = `http://127.0.0.1:${await sink.start()}/hook`;
    const t = target('postgres');
    const store = await t.open();
    const procs: Service[] = [];
    try {
      await fill(store, 3000);
      const env = {
        ...t.env,
        REDIS_URI: CHAOS_URLS.redis,
        CACHE_KEY_PREFIX: `${uniqueName('rate')}:`,
        RATE_LIMITER_ENABLED: 'true',
        RATE_LIMITER_MAX_TOKENS: String(MAX),
        RATE_LIMITER_REFILL_RATE: String(RATE),
        RATE_LIMITER_REFILL_INTERVAL: '1s',
        POOL_INITIAL_JOB_FETCH: 'false',
        POOL_HEARTBEAT_INTERVAL: '500ms',
        POOL_NODE_TIMEOUT: '3s',
      };
      for (let i = 0; i < 3; i++) procs.push(await serve(env, sinkUrl));
      await new Promise((r) => setTimeout(r, 1200)); // every node has seen the others (its share)
      const first = procs[0];
      if (!first) throw new Error('three nodes');
      await fetch(`${first.url}/worker-pool/state`, {
        method: 'PUT',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ action: 'start' }),
      });
      const shared = await sample(sink, 10_500);
      const inShared = (shared.at(-1) ?? 0) - (shared[0] ?? 0);
      const burst = Math.max(...shared.slice(1).map((v, i) => v - (shared[i] ?? 0)));
      const allowed = MAX + RATE * 10;

      services('stop', 'redis');
      const downStart = sink.stats().accepted;
      const down = await sample(sink, 5000);
      const inDown = (down.at(-1) ?? 0) - downStart;
      services('start', 'redis');
      const back = sink.stats().accepted;
      await waitFor(() => sink.stats().accepted >= back + MAX, 20_000, 'delivery after Redis is back');

      report('cluster-rate/postgres+redis', {
        nodes: 3,
        bucket: `${MAX} at once, ${RATE}/s`,
        shared_10_5s: {
          delivered: inShared,
          allowed,
          error_pct: Number((((inShared - allowed) / allowed) * 100).toFixed(1)),
          largest_100ms: burst,
        },
        redis_down_5s: { delivered: inDown, allowed_at_most: RATE * 5 },
      });
      assert.ok(inShared <= allowed, `${inShared} delivered > ${allowed} allowed`);
      assert.ok(inShared >= allowed * 0.98, `${inShared} delivered: below 98% of ${allowed}`);
      assert.ok(burst <= MAX, `${burst} in 100 ms > the bucket of ${MAX}`);
      assert.ok(inDown <= RATE * 5, `Redis down: ${inDown} in 5 s > ${RATE * 5}`);
      assert.ok(inDown > 0, 'delivery went on while Redis was down');
    } finally {
      services('start', 'redis');
      for (const p of procs) await p.stop('SIGKILL');
      await store.close();
      await t.drop();
      await sink.stop();
    }
  });
});
