import assert from 'node:assert/strict';
import { before, describe, test } from 'node:test';
import { Redis } from 'ioredis';
import { Sink } from '../../bench/sink.js';
import { waitFor } from '../helpers/app.js';
import {
  CHAOS_URLS,
  fill,
  logLines,
  report,
  serve,
  services,
  target,
  uniqueName,
  type Server,
  type Service,
} from './helpers.js';

before(() => services('up'));

async function readyz(svc: Service): Promise<{ status: number; checks: Record<string, string> }> {
  const r = await fetch(`${svc.url}/readyz`);
  return { status: r.status, checks: ((await r.json()) as { checks: Record<string, string> }).checks };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('store outage: the database stops for 10 s mid-run', () => {
  const cases = [
    ['postgres', 'postgres', 6000, 1000],
    ['mongodb', 'ferretdb', 1500, 300],
  ] as const;
  for (const [kind, server, n, stopAt] of cases) {
    test(`${kind}: stays up, reports not ready, resumes by itself, loses nothing`, async () => {
      // slow enough that the run spans the outage: 8 workers × 20 ms
      const sink = new Sink({ port: 0, keep: 0, latencyMs: 20 });
      const sinkUrl = `http://127.0.0.1:${await sink.start()}/hook`;
      const t = target(kind);
      const store = await t.open();
      let svc: Service | null = null;
      let down = false;
      try {
        await fill(store, n);
        svc = await serve({ ...t.env, POOL_NUM_WORKERS: '8' }, sinkUrl);
        await waitFor(() => sink.stats().accepted >= stopAt, 120_000, `${stopAt} deliveries`);
        services('stop', server satisfies Server);
        down = true;
        const downAt = Date.now();
        // not ready while it is down, and the API says why instead of failing obscurely
        await waitFor(async () => (await readyz(svc as Service)).status === 503, 15_000, '/readyz 503');
        // a write during the outage: PostgreSQL only. On FerretDB v1 a write sent while it restarts
        // was answered 201 and then not found (see docs/decisions.md); not a guarantee we can test there
        const post =
          kind === 'postgres'
            ? await fetch(`${svc.url}/messages`, {
                method: 'POST',
                headers: { 'content-type': 'application/json' },
                body: JSON.stringify({ content: 'during the outage', recipient_phone_number: '+1' }),
                signal: AbortSignal.timeout(40_000),
              })
            : null;
        const postBody = post ? ((await post.json()) as { code?: string; id?: string }) : {};
        await sleep(Math.max(0, 10_000 - (Date.now() - downAt)));
        assert.equal(svc.child.exitCode, null, 'the service is still running');
        assert.equal((await fetch(`${svc.url}/healthz`)).status, 200);
        const acceptedWhileDown = sink.stats().accepted;
        services('start', server);
        down = false;
        const upAt = Date.now();
        await waitFor(async () => (await readyz(svc as Service)).status === 200, 60_000, '/readyz 200 again');
        const readyMs = Date.now() - upAt;
        await waitFor(() => sink.stats().accepted > acceptedWhileDown, 60_000, 'deliveries to resume');
        const resumedMs = Date.now() - upAt;
        const expected = n;
        await waitFor(
          async () => (await store.countByStatus()).sent >= expected,
          300_000,
          `all ${expected} sent`,
        );
        assert.equal(await svc.stop('SIGTERM'), 0);
        svc = null;
        const counts = await store.countByStatus();
        const stats = sink.stats();
        report(`store-outage/${kind}`, {
          messages: n,
          outage_s: 10,
          post_during_outage: post ? `${post.status} ${postBody.code ?? ''}`.trim() : 'not tried',
          ready_again_ms: readyMs,
          deliveries_resumed_ms: resumedMs,
          duplicates: stats.duplicates,
          lost: expected - stats.unique_webhook_ids,
          counts,
        });
        if (post) {
          assert.equal(post.status, 503, 'a write during the outage is refused with 503');
          assert.equal(postBody.code, 'STORE_UNAVAILABLE');
        }
        assert.equal(counts.processing, 0);
        assert.equal(stats.unique_webhook_ids, expected, 'nothing lost');
        assert.equal(stats.duplicates, 0, 'outcomes kept in memory during the outage are stored afterwards');
      } catch (err) {
        process.stdout.write(
          `counts: ${JSON.stringify(await store.countByStatus())}, sink: ${JSON.stringify(sink.stats())}\nservice output:\n${svc?.output().slice(-4000) ?? ''}\n`,
        );
        throw err;
      } finally {
        if (down) services('start', server);
        await svc?.stop('SIGKILL');
        await store.close();
        await t.drop();
        await sink.stop();
      }
    });
  }
});

describe('Redis outage', () => {
  test('delivery goes on, cache writes are dropped with a few warnings, and it reconnects', async () => {
    const sink = new Sink({ port: 0, keep: 0, latencyMs: 20 });
    const sinkUrl = `http://127.0.0.1:${await sink.start()}/hook`;
    const t = target('sqlite');
    const store = await t.open();
    const prefix = uniqueName('chaos') + ':';
    const raw = new Redis(CHAOS_URLS.redis, { lazyConnect: true, maxRetriesPerRequest: 1 });
    raw.on('error', () => undefined);
    let svc: Service | null = null;
    let down = false;
    try {
      const n = 6000;
      await fill(store, n);
      svc = await serve(
        { ...t.env, POOL_NUM_WORKERS: '8', REDIS_URI: CHAOS_URLS.redis, CACHE_KEY_PREFIX: prefix },
        sinkUrl,
      );
      await waitFor(() => sink.stats().accepted >= 1000, 60_000, '1000 deliveries');
      services('stop', 'redis');
      down = true;
      const before = sink.stats().accepted;
      await sleep(5000);
      const duringOutage = sink.stats().accepted - before;
      const ready = await readyz(svc);
      services('start', 'redis');
      down = false;
      const upAt = Date.now();
      await waitFor(async () => (await readyz(svc as Service)).checks.redis === 'ok', 30_000, 'Redis again');
      const reconnectMs = Date.now() - upAt;
      await waitFor(async () => (await store.countByStatus()).sent >= n, 120_000, `all ${n} sent`);
      // a message sent after Redis came back has its cache entry again
      await raw.connect();
      const last = (await store.list({ order: 'sent', limit: 1 })).items[0];
      const key = prefix + (last?.webhook_response_message_id ?? '');
      await waitFor(async () => (await raw.get(key)) !== null, 10_000, 'a cache entry after the outage');
      assert.equal(await svc.stop('SIGTERM'), 0);
      const warnings = logLines(svc).filter((l) => String(l.msg).startsWith('cache write'));
      const droppedTotal = warnings.reduce((a, l) => a + (typeof l.dropped === 'number' ? l.dropped : 1), 0);
      svc = null;
      const stats = sink.stats();
      report('redis-outage', {
        messages: n,
        outage_s: 5,
        delivered_during_outage: duringOutage,
        ready_during_outage: ready,
        reconnect_ms: reconnectMs,
        cache_writes_dropped: droppedTotal,
        warning_lines: warnings.length,
        duplicates: stats.duplicates,
      });
      assert.ok(duringOutage > 200, `only ${duringOutage} deliveries while Redis was down`);
      assert.equal(ready.status, 200, 'still ready: the store answers');
      assert.notEqual(ready.checks.redis, 'ok');
      assert.ok(droppedTotal > 0, 'the dropped cache writes are reported');
      assert.ok(
        warnings.length <= 10,
        `${warnings.length} warning lines: one per message would flood the log`,
      );
      assert.equal(stats.unique_webhook_ids, n);
      assert.equal(stats.duplicates, 0);
    } finally {
      if (down) services('start', 'redis');
      raw.disconnect();
      await svc?.stop('SIGKILL');
      await store.close();
      await t.drop();
      await sink.stop();
    }
  });
});
