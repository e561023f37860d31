import assert from 'node:assert/strict';
import { before, describe, test } from 'node:test';
import { Sink } from '../../bench/sink.js';
import { waitFor } from '../helpers/app.js';
import { fill, report, serve, services, target, type Service } from './helpers.js';

before(() => services('up'));

const MAX_ATTEMPTS = 8;

describe('a bad receiver: 30% 500, 10% timeouts, 5% 429 with Retry-After, a 2 s slow tail', () => {
  for (const kind of ['sqlite', 'postgres'] as const) {
    test(`${kind}: every message ends sent or failed within the retry budget, every attempt recorded`, async () => {
      const sink = new Sink({
        port: 0,
        keep: 0,
        failRate: 0.3,
        throttleRate: 0.05,
        timeoutRate: 0.1,
        hangMs: 5000,
        slowRate: 0.02,
        slowMs: 2000,
        latencyMs: [0, 10],
      });
      const sinkUrl = `http://127.0.0.1:${await sink.start()}/hook`;
      const t = target(kind);
      const store = await t.open();
      let svc: Service | null = null;
      try {
        const n = 1500;
        await fill(store, n);
        svc = await serve(
          {
            ...t.env,
            WEBHOOK_CLIENT_TIMEOUT: '3s',
            RETRY_MAX_ATTEMPTS: String(MAX_ATTEMPTS),
            RETRY_BASE_DELAY: '50ms',
            RETRY_MAX_DELAY: '1s',
          },
          sinkUrl,
        );
        // progress is sampled: if every worker waited on hung requests, nothing would be accepted
        // for a whole client timeout (3 s)
        const t0 = Date.now();
        let lastAccepted = 0;
        let lastChange = Date.now();
        let longestStallMs = 0;
        await waitFor(
          async () => {
            const c = await store.countByStatus();
            const accepted = sink.stats().accepted;
            if (accepted !== lastAccepted) {
              lastAccepted = accepted;
              lastChange = Date.now();
            } else if (c.unsent + c.processing > n / 10) {
              longestStallMs = Math.max(longestStallMs, Date.now() - lastChange);
            }
            return c.sent + c.failed === n;
          },
          240_000,
          `all ${n} finished on ${kind}`,
        );
        const seconds = (Date.now() - t0) / 1000;
        assert.equal(await svc.stop('SIGTERM'), 0);
        svc = null;

        let attempts = 0;
        let mismatched = 0;
        let failedEarly = 0;
        for (const status of ['sent', 'failed'] as const) {
          let after: { at: Date; id: string } | undefined;
          for (;;) {
            const page = await store.list({ order: 'created', status, limit: 500, after });
            for (const m of page.items) {
              const rows = await store.attempts(m.id);
              attempts += m.attempts;
              if (rows.length !== m.attempts || sink.requestCount(m.webhook_id) !== m.attempts) mismatched++;
              if (status === 'failed' && (m.attempts !== MAX_ATTEMPTS || !m.last_error)) failedEarly++;
              if (status === 'sent' && rows[rows.length - 1]?.outcome !== 'sent') mismatched++;
            }
            if (!page.next) break;
            after = page.next;
          }
        }
        const counts = await store.countByStatus();
        const stats = sink.stats();
        report(`bad-receiver/${kind}`, {
          messages: n,
          seconds,
          sent: counts.sent,
          failed: counts.failed,
          attempts,
          sink: stats,
          longest_stall_ms: longestStallMs,
        });
        assert.equal(counts.sent + counts.failed, n);
        assert.equal(
          mismatched,
          0,
          'attempts column = attempt rows = requests the receiver saw, per message',
        );
        assert.equal(failedEarly, 0, 'a message fails only after the whole retry budget, with the reason');
        assert.equal(stats.requests, attempts);
        assert.equal(stats.duplicates, 0);
        assert.ok(stats.timed_out_injected > 0 && stats.throttled_injected > 0 && stats.failed_injected > 0);
        assert.ok(longestStallMs < 3000, `no delivery accepted for ${longestStallMs} ms`);
      } finally {
        await svc?.stop('SIGKILL');
        await store.close();
        await t.drop();
        await sink.stop();
      }
    });
  }
});
