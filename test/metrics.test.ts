/**
 * GET /metrics: what a node counts agrees with what the receiver saw, labels
 * stay of bounded cardinality, cluster-wide gauges come from one node, and
 * the endpoint needs the metrics:read scope.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { Sink } from '../bench/sink.js';
import { testApp, waitFor } from './helpers/app.js';
import { serviceUrl, uniqueName } from './helpers/services.js';
import { loadConfig } from '../src/config/config.js';

/** Prometheus text → sample name{labels} → value. */
function samples(text: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const i = line.lastIndexOf(' ');
    out.set(line.slice(0, i), Number(line.slice(i + 1)));
  }
  return out;
}

describe('GET /metrics', () => {
  const sink = new Sink({ port: 0, keep: 0 });
  let t: Awaited<ReturnType<typeof testApp>>;
  before(async () => {
    const port = await sink.start();
    t = await testApp({
      API_AUTH: 'none',
      WEBHOOK_URL: `http://127.0.0.1:${port}/hook`,
      METRICS_COUNT_INTERVAL: '1s',
      RATE_LIMITER_ENABLED: 'false',
    });
    t.app.pool.start(); // as `serve` does
  });
  after(async () => {
    await t.cleanup();
    await sink.stop();
  });

  const scrape = async (): Promise<Map<string, number>> => {
    const r = await t.app.server.inject({ method: 'GET', url: '/metrics' });
    assert.equal(r.statusCode, 200);
    assert.match(String(r.headers['content-type']), /^text\/plain; version=0\.0\.4/);
    return samples(r.body);
  };

  test('deliveries, attempts, lateness, API requests and store calls agree with what happened', async () => {
    const start = await t.app.server.inject({
      method: 'PUT',
      url: '/worker-pool/state',
      payload: { action: 'start' },
    });
    assert.equal(start.statusCode, 200);
    const n = 25;
    for (let i = 0; i < n; i++) {
      const r = await t.app.server.inject({
        method: 'POST',
        url: '/messages',
        payload: { content: `m ${i}`, recipient_phone_number: '+905551234567' },
      });
      assert.equal(r.statusCode, 201);
    }
    await waitFor(() => sink.stats().accepted >= n, 10_000, 'the deliveries');
    await waitFor(
      async () =>
        (await scrape()).get('message_scheduler_deliveries_total{outcome="sent",destination="default"}') ===
        n,
    );
    const m = await scrape();
    assert.equal(
      m.get('message_scheduler_delivery_attempts_total{status_class="2xx",destination="default"}'),
      n,
    );
    assert.equal(m.get('message_scheduler_delivery_lateness_seconds_count'), n);
    assert.equal(m.get('message_scheduler_delivery_duration_seconds_count'), n);
    assert.equal(
      m.get('message_scheduler_api_requests_total{method="POST",route="/messages",status="201"}'),
      n,
    );
    assert.ok((m.get('message_scheduler_claim_round_duration_seconds_count') ?? 0) > 0);
    assert.ok(
      (m.get('message_scheduler_store_operation_duration_seconds_count{operation="create"}') ?? 0) >= n,
    );
    assert.equal(m.get('message_scheduler_pool_running'), 1);
    assert.equal(m.get('message_scheduler_in_flight'), 0);
    assert.equal(m.get('message_scheduler_live_nodes'), 1);
    assert.ok((m.get('message_scheduler_process_resident_memory_bytes') ?? 0) > 0, 'default process metrics');
    // the one node of this cluster counts the store
    await waitFor(async () => (await scrape()).get('message_scheduler_messages{status="sent"}') === n);
    assert.equal((await scrape()).get('message_scheduler_oldest_due_age_seconds'), 0);
  });

  test('labels are of bounded cardinality: no message id, webhook id, phone number or raw URL', async () => {
    await t.app.server.inject({ method: 'GET', url: '/messages/does-not-exist?x=1' });
    const text = (await t.app.server.inject({ method: 'GET', url: '/metrics' })).body;
    assert.doesNotMatch(text, /\+90555|msg_|does-not-exist|\?x=1/);
    const routes = new Set([...text.matchAll(/route="([^"]*)"/g)].map((x) => x[1]));
    for (const route of routes) assert.ok(route === 'unmatched' || route?.startsWith('/'), String(route));
    assert.ok(routes.has('/messages/:id'), 'the route pattern, not the URL');
  });

  test('a due backlog shows as the oldest due age', async () => {
    await t.app.server.inject({
      method: 'PUT',
      url: '/worker-pool/state',
      payload: { action: 'pause' },
    });
    await t.app.store.create(
      [{ content: 'late', recipient_phone_number: '+1', send_at: new Date(Date.now() - 60_000) }],
      new Date(),
    );
    await waitFor(async () => ((await scrape()).get('message_scheduler_oldest_due_age_seconds') ?? 0) >= 59);
    assert.equal((await scrape()).get('message_scheduler_pool_running'), 0);
  });
});

describe('GET /metrics access', () => {
  test('needs metrics:read; metrics.enabled false: no endpoint', async () => {
    const t = await testApp();
    const off = await testApp({ API_AUTH: 'none', METRICS_ENABLED: 'false' });
    try {
      const key = async (scopes: string[], admin?: string): Promise<string> => {
        const r = await t.app.server.inject({
          method: 'POST',
          url: '/keys',
          payload: { name: scopes.join('-').replace(/:/g, '-'), scopes },
          ...(admin ? { headers: { authorization: `Bearer ${admin}` } } : {}),
        });
        assert.equal(r.statusCode, 201, r.body);
        return String((r.json() as { key: string }).key);
      };
      // the first key by the loopback operator (protected mode), the others with it
      const admin = await key(['admin']);
      const reader = await key(['messages:read'], admin);
      const metrics = await key(['metrics:read'], admin);
      const as = (k?: string) =>
        t.app.server.inject({
          method: 'GET',
          url: '/metrics',
          ...(k ? { headers: { authorization: `Bearer ${k}` } } : {}),
        });
      assert.equal((await as()).statusCode, 401);
      assert.equal((await as(reader)).statusCode, 403);
      const ok = await as(metrics);
      assert.equal(ok.statusCode, 200);
      assert.match(ok.body, /message_scheduler_deliveries_total/);
      assert.doesNotMatch(ok.body, new RegExp(metrics.slice(16)), 'no credential in the metrics');
      assert.equal((await off.app.server.inject({ method: 'GET', url: '/metrics' })).statusCode, 404);
    } finally {
      await t.cleanup();
      await off.cleanup();
    }
  });
});

describe('cluster-wide gauges', () => {
  test('two nodes on one PostgreSQL store: exactly one exports the message counts; when it stops the other does', async (ctx) => {
    const url = serviceUrl('DATABASE_URL');
    if (!url) return ctx.skip('DATABASE_URL not set');
    const env = {
      DATABASE_URL: url,
      DATABASE_SCHEMA: uniqueName('metrics'),
      API_AUTH: 'none',
      METRICS_COUNT_INTERVAL: '1s',
    };
    const a = await testApp(env);
    const b = await testApp(env);
    const open = new Set([a, b]);
    const stop = async (x: typeof a): Promise<void> => {
      if (open.delete(x)) await x.cleanup();
    };
    try {
      await a.app.store.create(
        Array.from({ length: 7 }, (_, i) => ({ content: `c ${i}`, recipient_phone_number: '+1' })),
        new Date(),
      );
      const unsent = async (x: typeof a): Promise<number | undefined> =>
        samples((await x.app.server.inject({ method: 'GET', url: '/metrics' })).body).get(
          'message_scheduler_messages{status="unsent"}',
        );
      const [leader, other] = a.app.nodeId < b.app.nodeId ? [a, b] : [b, a];
      await waitFor(async () => (await unsent(leader)) === 7, 10_000, 'the lowest node id to count');
      await new Promise((r) => setTimeout(r, 1500)); // the other has counted (or not) at least once
      assert.equal(await unsent(other), undefined, 'the other node exports no count: a sum is not doubled');
      // the counting node stops cleanly (its node row goes): the other takes over
      await stop(leader);
      await waitFor(async () => (await unsent(other)) === 7, 10_000, 'the remaining node to count');
    } finally {
      for (const x of [...open]) await stop(x);
    }
  });
});

describe('metrics.listen', () => {
  test('a listener of its own answers /metrics without credentials; the API port still asks for them', async () => {
    const t = await testApp({ API_AUTH: 'required', METRICS_LISTEN: '127.0.0.1:0' });
    try {
      const where = t.app.metricsServer?.address();
      assert.ok(where, 'the listener is up');
      assert.equal(where.address, '127.0.0.1');
      const base = `http://127.0.0.1:${where.port}`;
      const r = await fetch(`${base}/metrics`);
      assert.equal(r.status, 200);
      assert.match(r.headers.get('content-type') ?? '', /^text\/plain; version=0\.0\.4/);
      assert.match(await r.text(), /^# TYPE message_scheduler_deliveries_total counter$/m);
      const other = await fetch(`${base}/messages`);
      assert.equal(other.status, 404);
      assert.equal(((await other.json()) as { code: string }).code, 'NOT_FOUND');
      const post = await fetch(`${base}/metrics`, { method: 'POST' });
      assert.equal(post.status, 405);
      assert.equal(post.headers.get('allow'), 'GET, HEAD');
      assert.equal((await t.app.server.inject({ method: 'GET', url: '/metrics' })).statusCode, 401);
    } finally {
      await t.cleanup();
    }
  });

  test('rate-limiter tokens: the bucket as this node sees it, local and shared in Redis; no limit, no gauge', async (ctx) => {
    const sink2 = new Sink({ port: 0, keep: 0 });
    const port = await sink2.start();
    const redis = serviceUrl('REDIS_URI');
    const setups: Record<string, string>[] = [{}];
    if (redis) setups.push({ REDIS_URI: redis, CACHE_KEY_PREFIX: `${uniqueName('rl')}:` });
    else ctx.diagnostic('REDIS_URI not set: the Redis bucket is not checked');
    try {
      for (const extra of setups) {
        // 3 tokens, refilled by 3 an hour: nothing comes back during the test
        const t2 = await testApp({
          API_AUTH: 'none',
          WEBHOOK_URL: `http://127.0.0.1:${port}/hook`,
          POOL_INITIAL_JOB_FETCH: 'true',
          RATE_LIMITER_MAX_TOKENS: '3',
          RATE_LIMITER_REFILL_RATE: '3',
          RATE_LIMITER_REFILL_INTERVAL: '1h',
          ...extra,
        });
        try {
          const gauge = async (): Promise<number | undefined> =>
            samples((await t2.app.server.inject('/metrics')).body).get(
              'message_scheduler_rate_limiter_tokens',
            );
          const where = extra.REDIS_URI ? 'redis' : 'local';
          if (!extra.REDIS_URI) assert.equal(await gauge(), 3, `${where}: full at start`);
          t2.app.pool.start();
          for (let i = 0; i < 2; i++) {
            await t2.app.server.inject({
              method: 'POST',
              url: '/messages',
              payload: { content: `m${i}`, recipient_phone_number: '+905551234567' },
            });
          }
          await waitFor(async () => (await gauge()) === 1, 10_000, `${where}: two tokens spent`);
        } finally {
          await t2.cleanup();
        }
      }
      const off = await testApp({ API_AUTH: 'none', RATE_LIMITER_ENABLED: 'false' });
      try {
        const body = (await off.app.server.inject('/metrics')).body;
        assert.ok(!body.includes('rate_limiter_tokens'), 'no gauge without a limit');
      } finally {
        await off.cleanup();
      }
    } finally {
      await sink2.stop();
    }
  });

  test('a bad address stops start-up with one line naming the key', () => {
    for (const bad of ['127.0.0.1:99999', 'localhost:', 'a b:1']) {
      assert.throws(
        () => loadConfig({ CONFIG_PATH: '.config', CONFIG_ENV: 'dev', METRICS_LISTEN: bad }, process.cwd()),
        (err: Error) =>
          /^config: metrics\.listen \(METRICS_LISTEN\) = .* is invalid: expected/.test(err.message) &&
          !err.message.includes('\n'),
        bad,
      );
    }
    assert.equal(
      loadConfig({ CONFIG_PATH: '.config', CONFIG_ENV: 'dev' }, process.cwd()).metrics.listen,
      null,
    );
    assert.deepEqual(
      loadConfig({ CONFIG_PATH: '.config', CONFIG_ENV: 'dev', METRICS_LISTEN: ':9464' }, process.cwd())
        .metrics.listen,
      { host: '0.0.0.0', port: 9464 },
    );
  });
});

describe('per-message metrics', () => {
  test('counted on the delivery path, applied when read: every outcome, none lost or counted twice', async () => {
    const { Metrics } = await import('../src/metrics/metrics.js');
    const m = new Metrics();
    const now = new Date('2026-12-01T12:00:00Z');
    const event = (kind: 'sent' | 'retry' | 'failed', status: number | null, applied = true) => ({
      message: { attempts: 0, due_at: new Date(now.getTime() - 2000) },
      outcome: kind === 'sent' ? { kind, sentAt: now } : { kind },
      attempt: { status_code: status, latency_ms: 30 },
      applied,
    });
    const read = async (): Promise<Map<string, number>> => samples(await m.text());
    // 2,500 sent, then a read, then more of every kind
    for (let i = 0; i < 2500; i++) m.outcome(event('sent', 202) as never);
    let s = await read();
    assert.equal(s.get('message_scheduler_deliveries_total{outcome="sent",destination="default"}'), 2500);
    assert.equal(
      s.get('message_scheduler_delivery_attempts_total{status_class="2xx",destination="default"}'),
      2500,
    );
    assert.equal(s.get('message_scheduler_delivery_duration_seconds_count'), 2500);
    assert.equal(s.get('message_scheduler_delivery_lateness_seconds_count'), 2500);
    assert.equal(s.get('message_scheduler_delivery_lateness_seconds_bucket{le="1"}'), 0, '2 s late');
    assert.equal(s.get('message_scheduler_delivery_lateness_seconds_bucket{le="2.5"}'), 2500);
    for (let i = 0; i < 7; i++) m.outcome(event('retry', 503) as never);
    for (let i = 0; i < 3; i++) m.outcome(event('failed', null) as never);
    m.outcome(event('sent', 202, false) as never);
    s = await read();
    assert.equal(
      s.get('message_scheduler_deliveries_total{outcome="sent",destination="default"}'),
      2500,
      'a read applies once',
    );
    assert.equal(s.get('message_scheduler_deliveries_total{outcome="retried",destination="default"}'), 7);
    assert.equal(s.get('message_scheduler_deliveries_total{outcome="failed",destination="default"}'), 3);
    assert.equal(s.get('message_scheduler_deliveries_total{outcome="lost_lease",destination="default"}'), 1);
    assert.equal(
      s.get('message_scheduler_delivery_attempts_total{status_class="5xx",destination="default"}'),
      7,
    );
    assert.equal(
      s.get('message_scheduler_delivery_attempts_total{status_class="none",destination="default"}'),
      3,
    );
    assert.equal(s.get('message_scheduler_delivery_duration_seconds_count'), 2511);
    assert.equal(
      s.get('message_scheduler_delivery_lateness_seconds_count'),
      2500,
      'a lost lease is not sent',
    );
    assert.equal((await read()).get('message_scheduler_delivery_duration_seconds_count'), 2511);
  });
});

describe('metrics by destination', () => {
  test('each destination has its label up to metrics.destinationLabels; the rest count as other', async () => {
    const { Metrics } = await import('../src/metrics/metrics.js');
    const m = new Metrics(2);
    const event = (destination_id: string | null) => ({
      message: { attempts: 1, due_at: new Date(), destination_id },
      outcome: { kind: 'failed' },
      attempt: { status_code: 500, latency_ms: 3 },
      applied: true,
    });
    for (const d of [null, 'a', 'b', 'c', 'd', 'a', null]) m.outcome(event(d) as never);
    // put back without a request (its destination was paused just then): held, not a retry
    m.outcome({
      message: { attempts: 0, due_at: new Date(), destination_id: 'a' },
      outcome: { kind: 'retry' },
      attempt: null,
      applied: true,
    } as never);
    const s = samples(await m.text());
    assert.equal(s.get('message_scheduler_deliveries_total{outcome="held",destination="a"}'), 1);
    assert.equal(s.get('message_scheduler_deliveries_total{outcome="retried",destination="a"}'), undefined);
    const failed = (d: string) =>
      s.get(`message_scheduler_deliveries_total{outcome="failed",destination="${d}"}`);
    assert.equal(failed('default'), 2);
    assert.equal(failed('a'), 2);
    assert.equal(failed('b'), 1);
    assert.equal(failed('other'), 2, 'c and d: past the bound');
    assert.equal(failed('c'), undefined);
    assert.equal(
      s.get('message_scheduler_delivery_attempts_total{status_class="5xx",destination="other"}'),
      2,
    );
  });
});

describe('CountedHistogram', () => {
  test("writes the same exposition as prom-client's Histogram for the same observations", async () => {
    const { Histogram, Registry } = await import('prom-client');
    const { CountedHistogram } = await import('../src/metrics/counted-histogram.js');
    const buckets = [0.001, 0.01, 0.1, 1, 10];
    const ours = new Registry();
    const theirs = new Registry();
    const counted = new CountedHistogram({ name: 'x_seconds', help: 'h', buckets, registry: ours });
    const reference = new Histogram({ name: 'x_seconds', help: 'h', buckets, registers: [theirs] });
    // on each bound, between, below the first, past the last, zero, negative, a long tail
    const values = [0, -1, 0.001, 0.0010001, 0.01, 0.05, 0.1, 1, 9.99, 10, 10.01, 1e9];
    for (let i = 0; i < 500; i++) values.push(((i * 7919) % 12007) / 1000);
    for (const v of values) {
      counted.observe(v);
      reference.observe(v);
    }
    assert.equal(await ours.metrics(), await theirs.metrics());
    // as JSON (what getMetricsAsJSON is for): a key set to undefined is no key
    const json = async (r: InstanceType<typeof Registry>): Promise<unknown> =>
      JSON.parse(JSON.stringify(await r.getMetricsAsJSON()));
    assert.deepEqual(await json(ours), await json(theirs));
    // not a number: prom-client throws; the delivery path must not, so it is not counted
    counted.observe(Number.NaN);
    counted.observe(Number.POSITIVE_INFINITY);
    assert.equal(await ours.metrics(), await theirs.metrics());
    ours.resetMetrics();
    assert.equal(samples(await ours.metrics()).get('x_seconds_count'), 0);
    assert.equal(samples(await ours.metrics()).get('x_seconds_bucket{le="+Inf"}'), 0);
  });
});
