import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { test } from 'node:test';
import { Sink } from '../src/sink/sink.js';
import { WebhookClient } from '../src/delivery/webhook-client.js';

const SECRET = 'whsec_' + Buffer.from('client-test-secret').toString('base64');
const request = { webhookId: 'msg_abc', to: '+905551234567', content: 'hello' };

function client(url: string, timeoutMs = 2000): WebhookClient {
  return new WebhookClient({ url, timeoutMs, signingSecret: SECRET, connections: 2 });
}

test('the webhook client: delivered, retryable with Retry-After, permanent, timeout, refused', async () => {
  // the project's sink, checking signatures, then the faults it can inject
  const ok = new Sink({ port: 0, secret: SECRET, keep: 10 });
  const throttled = new Sink({ port: 0, throttleRate: 1 });
  const failing = new Sink({ port: 0, failRate: 1 });
  const hanging = new Sink({ port: 0, timeoutRate: 1, hangMs: 1000 });
  const sinks = [ok, throttled, failing, hanging];
  const ports = await Promise.all(sinks.map((s) => s.start()));
  const url = (i: number): string => `http://127.0.0.1:${ports[i] ?? 0}/hook`;
  // a receiver answering 404 with a large body: permanent, and the body is cut to 200 characters
  const big = createServer((_req, res) => {
    res.writeHead(404, { 'content-type': 'text/plain' });
    res.end('x'.repeat(200_000));
  });
  await new Promise<void>((r) => big.listen(0, '127.0.0.1', r));
  const bigPort = (big.address() as AddressInfo).port;
  const clients: WebhookClient[] = [];
  const use = (c: WebhookClient): WebhookClient => (clients.push(c), c);
  try {
    const delivered = await use(client(url(0))).deliver(request);
    assert.equal(delivered.kind, 'delivered');
    assert.equal(delivered.statusCode, 202);
    assert.ok(delivered.kind === 'delivered' && /^[0-9a-f-]{36}$/.test(delivered.responseMessageId ?? ''));
    const seen = ok.deliveries()[0];
    assert.equal(seen?.signature_valid, true);
    assert.equal(seen?.webhook_id, 'msg_abc');
    assert.deepEqual([seen?.to, seen?.content], [request.to, request.content]);

    const slow = await use(client(url(1))).deliver(request);
    assert.deepEqual(slow.kind === 'retryable' && [slow.statusCode, slow.retryAfterMs, slow.maybeDelivered], [
      429,
      1000,
      false,
    ]);

    const failed = await use(client(url(2))).deliver(request);
    assert.deepEqual(
      failed.kind === 'retryable' && [failed.statusCode, failed.retryAfterMs, failed.maybeDelivered],
      [500, null, false],
    );

    const permanent = await use(client(`http://127.0.0.1:${bigPort}/hook`)).deliver(request);
    assert.equal(permanent.kind, 'permanent');
    assert.equal(permanent.kind === 'permanent' && permanent.error, `HTTP 404: ${'x'.repeat(200)}`);

    const timedOut = await use(client(url(3), 200)).deliver(request);
    assert.equal(timedOut.kind, 'retryable');
    assert.ok(
      timedOut.kind === 'retryable' && timedOut.error.startsWith('timeout'),
      JSON.stringify(timedOut),
    );
    assert.equal(timedOut.kind === 'retryable' && timedOut.maybeDelivered, true);

    // nothing listens there: nothing can have been delivered
    await ok.stop();
    const refused = await use(client(url(0))).deliver(request);
    assert.equal(refused.kind, 'retryable');
    assert.equal(refused.kind === 'retryable' && refused.maybeDelivered, false);
  } finally {
    await Promise.all(clients.map((c) => c.close()));
    await Promise.all(sinks.map((s) => s.stop()));
    await new Promise((r) => big.close(r));
  }
});
