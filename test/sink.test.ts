import assert from 'node:assert/strict';
import { test } from 'node:test';
import { PROGRESS_STEP, Sink } from '../bench/sink.js';
import { secretBytes, sign } from '../src/delivery/signature.js';

const SECRET = 'whsec_' + Buffer.from('sink-test-secret').toString('base64');

async function post(port: number, headers: Record<string, string>, body = '{"to":"+1","content":"hi"}') {
  const r = await fetch(`http://127.0.0.1:${port}/hook`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body,
  });
  return {
    status: r.status,
    body: (await r.json()) as Record<string, unknown>,
    retryAfter: r.headers.get('retry-after'),
  };
}

test('the sink answers like webhook.site and counts repeated webhook-ids', async () => {
  const sink = new Sink({ port: 0 });
  const port = await sink.start();
  try {
    const a = await post(port, { 'webhook-id': 'msg_1' });
    assert.equal(a.status, 202);
    assert.equal(a.body.message, 'Accepted');
    assert.match(String(a.body.messageId), /^[0-9a-f-]{36}$/);
    await post(port, { 'webhook-id': 'msg_1' });
    await post(port, { 'webhook-id': 'msg_2' });
    assert.equal((await post(port, { 'webhook-id': 'msg_3' }, 'not json')).status, 400);
    const stats = (await (await fetch(`http://127.0.0.1:${port}/stats`)).json()) as Record<string, number>;
    assert.equal(stats.requests, 4);
    assert.equal(stats.accepted, 3);
    assert.equal(stats.duplicates, 1);
    assert.equal(stats.unique_webhook_ids, 2);
    assert.equal(stats.rejected_bad_request, 1);
    assert.equal(sink.acceptedCount('msg_1'), 2);
  } finally {
    await sink.stop();
  }
});

test('the sink injects failures and throttling, and rejects bad signatures', async () => {
  const rolls = [0.1, 0.3, 0.9];
  let i = 0;
  const sink = new Sink({
    port: 0,
    failRate: 0.2,
    throttleRate: 0.2,
    secret: SECRET,
    random: () => rolls[i++ % rolls.length] ?? 0,
  });
  const port = await sink.start();
  try {
    const body = '{"to":"+1","content":"hi"}';
    const ts = Math.floor(Date.now() / 1000);
    const signed = {
      'webhook-id': 'msg_9',
      'webhook-timestamp': String(ts),
      'webhook-signature': sign(secretBytes(SECRET), 'msg_9', ts, body),
    };
    assert.equal((await post(port, signed, body)).status, 500);
    const throttled = await post(port, signed, body);
    assert.equal(throttled.status, 429);
    assert.equal(throttled.retryAfter, '1');
    assert.equal((await post(port, signed, body)).status, 202);
    assert.equal((await post(port, { ...signed, 'webhook-signature': 'v1,AAAA' }, body)).status, 401);
    const s = sink.stats();
    assert.deepEqual(
      [s.failed_injected, s.throttled_injected, s.accepted, s.rejected_signature],
      [1, 1, 1, 1],
    );
  } finally {
    await sink.stop();
  }
});

test('the sink notes when every PROGRESS_STEP-th request was accepted, and forgets on reset', async () => {
  const sink = new Sink({ port: 0, keep: 0 });
  const port = await sink.start();
  const progress = async () =>
    (await (await fetch(`http://127.0.0.1:${port}/progress`)).json()) as { step: number; at_ms: number[] };
  try {
    const before = performance.timeOrigin + performance.now();
    const n = 2 * PROGRESS_STEP + 7;
    for (let i = 0; i < n; i += 50)
      await Promise.all(
        Array.from({ length: Math.min(50, n - i) }, (_, j) => post(port, { 'webhook-id': `msg_${i + j}` })),
      );
    const p = await progress();
    assert.equal(p.step, PROGRESS_STEP);
    assert.equal(p.at_ms.length, 2, 'one time per full step, none for the 7 past the second');
    const [t1 = 0, t2 = 0] = p.at_ms;
    assert.ok(before <= t1 && t1 <= t2 && t2 <= performance.timeOrigin + performance.now(), 'times in order');
    await fetch(`http://127.0.0.1:${port}/reset`, { method: 'POST' });
    assert.deepEqual((await progress()).at_ms, []);
  } finally {
    await sink.stop();
  }
});
