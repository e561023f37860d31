/**
 * A destination's limits hold for the cluster, not per node: three nodes on one PostgreSQL store and
 * one Redis deliver to a destination limited to 20 requests a second and to one limited to 4
 * requests in flight, while the other two destinations' backlogs wait.
 */
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { test } from 'node:test';
import { serviceUrl, uniqueName } from './helpers/services.js';
import { testApp, waitFor } from './helpers/app.js';

const pgUrl = serviceUrl('DATABASE_URL');
const redisUrl = serviceUrl('REDIS_URI');

test(
  'three nodes, PostgreSQL and Redis: a destination’s rate within 5% and its max_in_flight exactly',
  { skip: (!pgUrl || !redisUrl) && 'services not configured' },
  async () => {
    const arrivals = new Map<string, number[]>();
    const inFlight = new Map<string, number>();
    const peak = new Map<string, number>();
    const receiver = createServer((req, res) => {
      const path = req.url ?? '/';
      const now = inFlight.get(path) ?? 0;
      inFlight.set(path, now + 1);
      peak.set(path, Math.max(peak.get(path) ?? 0, now + 1));
      req.resume();
      req.on('end', () => {
        (arrivals.get(path) ?? arrivals.set(path, []).get(path))?.push(performance.now());
        // the narrow destination's receiver is slow: requests pile up if the bound does not hold
        setTimeout(
          () => {
            inFlight.set(path, (inFlight.get(path) ?? 1) - 1);
            res.writeHead(200, { 'content-type': 'application/json' });
            res.end('{"messageId":"x"}');
          },
          path === '/narrow' ? 150 : 5,
        );
      });
    });
    await new Promise<void>((r) => receiver.listen(0, '127.0.0.1', r));
    const port = (receiver.address() as AddressInfo).port;
    const env = {
      DATABASE_URL: pgUrl ?? '',
      DATABASE_SCHEMA: uniqueName('limits'),
      REDIS_URI: redisUrl ?? '',
      CACHE_KEY_PREFIX: `${uniqueName('lk')}:`,
      WEBHOOK_URL: `http://127.0.0.1:${port}/default`,
      POOL_INITIAL_JOB_FETCH: 'true',
      // workers to spare: a slot is held from the claim, and a claimed message waiting for a worker
      // holds one without a request in flight
      POOL_NUM_WORKERS: '8',
      RATE_LIMITER_ENABLED: 'false',
    };
    const nodes = [await testApp(env), await testApp(env), await testApp(env)];
    const [a] = nodes;
    if (!a) throw new Error('three nodes');
    const call = async (url: string, body: unknown) => {
      const r = await a.app.server.inject({
        method: 'POST',
        url,
        payload: JSON.stringify(body),
        headers: { 'content-type': 'application/json' },
      });
      assert.ok(r.statusCode < 300, `${url}: ${r.statusCode} ${r.body}`);
    };
    try {
      await call('/destinations', {
        id: 'metered',
        url: `http://127.0.0.1:${port}/metered`,
        rate_limit: { limit: 20, period: '1s', burst: 5 },
      });
      await call('/destinations', {
        id: 'narrow',
        url: `http://127.0.0.1:${port}/narrow`,
        max_in_flight: 4,
      });
      const batch = (destination: string, n: number) =>
        call('/messages/batch', {
          messages: Array.from({ length: n }, (_, i) => ({
            content: `${destination} ${i}`,
            recipient_phone_number: '+1',
            destination,
          })),
        });
      await batch('metered', 120);
      await batch('narrow', 60);
      for (const n of nodes) await n.app.destinations.refresh();
      for (const n of nodes) n.app.pool.start();
      await waitFor(
        () => (arrivals.get('/metered')?.length ?? 0) >= 120 && (arrivals.get('/narrow')?.length ?? 0) >= 60,
        60_000,
        'every message delivered',
      );
      const metered = arrivals.get('/metered') ?? [];
      const first = metered[0] ?? 0;
      // never above the bucket, at any moment: its burst plus 20 a second since the first request, with
      // 100 ms for when this process, busy with three nodes, reads each arrival (2 requests at 20/s)
      metered.forEach((t, i) =>
        assert.ok(
          i + 1 <= 5 + Math.floor((20 * (t - first + 100)) / 1000) + 1,
          `request ${i + 1} at ${(t - first).toFixed(0)} ms: above 5 + 20/s`,
        ),
      );
      // after the burst, the rate the three nodes hold together
      const from = metered[10] ?? 0;
      const to = metered[metered.length - 1] ?? 0;
      const rate = ((metered.length - 11) * 1000) / (to - from);
      assert.ok(rate <= 21 && rate >= 19, `rate ${rate.toFixed(2)}/s, expected 20 ± 5%`);
      // 4 over 3 nodes: only a count shared by the nodes reaches 4 (a share each would be 1) and stays there
      assert.equal(peak.get('/narrow'), 4, 'max_in_flight: 4 at once across the nodes, never more');
    } finally {
      for (const n of nodes) await n.cleanup();
      await new Promise((r) => receiver.close(r));
    }
  },
);
