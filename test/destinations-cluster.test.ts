/**
 * Destinations across nodes: a change made on one node holds on the others at once, pushed over
 * the cluster's signals (PostgreSQL LISTEN/NOTIFY, or Redis pub/sub), not at the next refresh.
 */
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { describe, test } from 'node:test';
import { serviceUrl, uniqueName } from './helpers/services.js';
import { testApp, waitFor } from './helpers/app.js';
import { PostgresStore } from '../src/store/postgres/postgres-store.js';

const pgUrl = serviceUrl('DATABASE_URL');
const redisUrl = serviceUrl('REDIS_URI');

for (const via of ['PostgreSQL', 'Redis'] as const) {
  describe(
    `destinations on two nodes, signals over ${via}`,
    { skip: (!pgUrl || (via === 'Redis' && !redisUrl)) && 'services not configured' },
    () => {
      test('a pause on one node stops delivery on the other at once; a resume sends what waited', async () => {
        const got: string[] = [];
        const receiver = createServer((req, res) => {
          let body = '';
          req.on('data', (c: Buffer) => (body += c.toString()));
          req.on('end', () => {
            got.push(body);
            res.writeHead(200, { 'content-type': 'application/json' });
            res.end('{"messageId":"x"}');
          });
        });
        await new Promise<void>((r) => receiver.listen(0, '127.0.0.1', r));
        const port = (receiver.address() as AddressInfo).port;
        const env = {
          DATABASE_URL: pgUrl ?? '',
          DATABASE_SCHEMA: uniqueName('dests'),
          ...(via === 'Redis' ? { REDIS_URI: redisUrl ?? '', CACHE_KEY_PREFIX: `${uniqueName('dk')}:` } : {}),
          WEBHOOK_URL: `http://127.0.0.1:${port}/default`,
          POOL_INITIAL_JOB_FETCH: 'true',
          RATE_LIMITER_ENABLED: 'false',
          // far longer than the test: only the signal can tell the other node in time
          DESTINATIONS_REFRESH_INTERVAL: '10m',
        };
        const a = await testApp(env);
        const b = await testApp(env);
        // b delivers, a only takes the operator's calls
        b.app.pool.start();
        const call = async (method: 'POST' | 'GET', url: string, body?: unknown) => {
          const r = await a.app.server.inject({
            method,
            url,
            ...(body === undefined ? {} : { payload: JSON.stringify(body) }),
            headers: { 'content-type': 'application/json' },
          });
          return r.json() as Record<string, unknown>;
        };
        try {
          await call('POST', '/destinations', { id: 'erp', url: `http://127.0.0.1:${port}/erp` });
          await call('POST', '/destinations/erp/pause');
          // b hears of it by the signal: erp gets no lane in its next claim
          await waitFor(
            () => b.app.destinations.get('erp')?.status === 'paused',
            10_000,
            'the pause to reach the other node',
          );
          const held = await call('POST', '/messages', {
            content: 'held',
            recipient_phone_number: '+1',
            destination: 'erp',
          });
          const free = await call('POST', '/messages', { content: 'free', recipient_phone_number: '+1' });
          await waitFor(
            async () => (await b.app.store.get(String(free.id)))?.status === 'sent',
            10_000,
            'the default message',
          );
          assert.equal((await b.app.store.get(String(held.id)))?.status, 'unsent');
          assert.ok(!got.some((x) => x.includes('held')));
          await call('POST', '/destinations/erp/resume');
          await waitFor(
            async () => (await b.app.store.get(String(held.id)))?.status === 'sent',
            10_000,
            'sent after the resume',
          );
          assert.ok(got.some((x) => x.includes('held')));
        } finally {
          await b.cleanup();
          await a.cleanup();
          await new Promise((r) => receiver.close(r));
          const s = new PostgresStore({ connectionString: pgUrl ?? '', schema: env.DATABASE_SCHEMA });
          await s.dropSchema();
          await s.close();
        }
      });
    },
  );
}
