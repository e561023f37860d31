import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { Worker } from 'node:worker_threads';
import { ThreadedDeliverer } from '../src/delivery/threaded-deliverer.js';
import { Sink } from '../bench/sink.js';

const SECRET = 'whsec_' + Buffer.from('test-secret-test-secret-32bytes!').toString('base64');

/** The test reaches into the deliverer only to kill a thread, as a crash would. */
function threadsOf(d: ThreadedDeliverer): Worker[] {
  return (d as unknown as { lanes: { worker: Worker }[] }).lanes.map((l) => l.worker);
}

describe('delivery over worker threads', () => {
  test('two threads deliver every request once, signed, and close cleanly', async () => {
    const sink = new Sink({ port: 0, secret: SECRET });
    const port = await sink.start();
    const d = new ThreadedDeliverer(
      { url: `http://127.0.0.1:${port}/hook`, timeoutMs: 5000, signingSecrets: [SECRET], connections: 8 },
      2,
    );
    try {
      const results = await Promise.all(
        Array.from({ length: 200 }, (_, i) =>
          d.deliver({ webhookId: `msg_${i}`, to: '+1', content: `c${i}` }),
        ),
      );
      assert.ok(results.every((r) => r.kind === 'delivered' && r.statusCode === 202 && r.responseMessageId));
      const stats = sink.stats();
      assert.equal(stats.accepted, 200);
      assert.equal(stats.unique_webhook_ids, 200);
      assert.equal(stats.rejected_signature, 0);
    } finally {
      await d.close();
      await sink.stop();
    }
  });

  test('a thread that dies fails its in-flight requests as retryable and is replaced', async () => {
    const sink = new Sink({ port: 0, latencyMs: 300 });
    const port = await sink.start();
    const d = new ThreadedDeliverer(
      { url: `http://127.0.0.1:${port}/hook`, timeoutMs: 5000, signingSecrets: [], connections: 4 },
      1,
    );
    try {
      const pending = Array.from({ length: 4 }, (_, i) =>
        d.deliver({ webhookId: `msg_${i}`, to: '+1', content: 'x' }),
      );
      await new Promise((r) => setTimeout(r, 100));
      const [first] = threadsOf(d);
      await first?.terminate();
      const results = await Promise.all(pending);
      for (const r of results) {
        assert.equal(r.kind, 'retryable');
        assert.match(r.kind === 'retryable' ? r.error : '', /delivery thread exited/);
      }
      const [second] = threadsOf(d);
      assert.notEqual(second, first, 'a new thread took its place');
      const again = await d.deliver({ webhookId: 'msg_again', to: '+1', content: 'x' });
      assert.equal(again.kind, 'delivered');
    } finally {
      await d.close();
      await sink.stop();
    }
  });
});
