import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { parse as parseOpenApi, validate as validateOpenApi } from '@readme/openapi-parser';
import type { App } from '../src/app/app.js';
import { readFileSync } from 'node:fs';
import { testApp } from './helpers/app.js';
import { ERROR_CODES } from '../src/errors/codes.js';

let app: App;
let cleanup: () => Promise<void>;

before(async () => {
  ({ app, cleanup } = await testApp());
});
after(async () => {
  await cleanup();
});

const json = (body: unknown) => ({
  payload: JSON.stringify(body),
  headers: { 'content-type': 'application/json' },
});

async function post(url: string, body: unknown, headers: Record<string, string> = {}) {
  const r = await app.server.inject({
    method: 'POST',
    url,
    ...json(body),
    headers: { 'content-type': 'application/json', ...headers },
  });
  return { status: r.statusCode, body: r.json() as Record<string, unknown>, headers: r.headers };
}

describe('compatibility with the original', () => {
  test('GET /sent-messages: 200 [] when empty (the original answered 404)', async () => {
    const r = await app.server.inject('/sent-messages');
    assert.equal(r.statusCode, 200);
    assert.deepEqual(r.json(), []);
  });

  test('GET /sent-messages: the original fields, newest sent_at first, paged with a Link header', async () => {
    const created = [];
    for (let i = 0; i < 3; i++) {
      const r = await post('/messages', { content: `m${i}`, recipient_phone_number: `+9055500000${i}` });
      created.push(r.body.id as string);
    }
    const claimed = await app.store.claim({
      owner: 't',
      limit: 3,
      now: new Date(Date.now() + 1000),
      leaseMs: 60_000,
    });
    await app.store.complete(
      claimed.map((m, i) => ({
        id: m.id,
        owner: 't',
        outcome: {
          kind: 'sent',
          webhookResponseMessageId: `resp-${i}`,
          sentAt: new Date(Date.UTC(2026, 0, 1, 0, 0, i)),
        },
        attempt: null,
      })),
      new Date(),
    );
    const r = await app.server.inject('/sent-messages?limit=2');
    assert.equal(r.statusCode, 200);
    const body = r.json() as Record<string, unknown>[];
    assert.equal(body.length, 2);
    for (const field of [
      'id',
      'webhook_response_message_id',
      'content',
      'recipient_phone_number',
      'status',
      'created_at',
      'sent_at',
    ]) {
      assert.ok(field in (body[0] ?? {}), `field ${field}`);
    }
    assert.equal(body[0]?.status, 'sent');
    assert.equal(body[0]?.sent_at, '2026-01-01T00:00:02.000Z');
    assert.equal(body[1]?.sent_at, '2026-01-01T00:00:01.000Z');
    assert.match(String(body[0]?.id), /^[0-9a-f]{24}$/);
    const link = r.headers.link as string;
    assert.match(link, /^<\/sent-messages\?limit=2&cursor=[^>]+>; rel="next"$/);
    const nextUrl = /<([^>]+)>/.exec(link)?.[1] ?? '';
    const r2 = await app.server.inject(nextUrl);
    const body2 = r2.json() as Record<string, unknown>[];
    assert.equal(body2.length, 1);
    assert.equal(body2[0]?.sent_at, '2026-01-01T00:00:00.000Z');
    assert.equal(r2.headers.link, undefined);
    const bad = await app.server.inject('/sent-messages?cursor=nonsense');
    assert.equal(bad.statusCode, 400);
    assert.equal(bad.json().code, 'INVALID_CURSOR');
    const tooMany = await app.server.inject('/sent-messages?limit=1001');
    assert.equal(tooMany.statusCode, 400);
  });

  test('PUT /worker-pool/state: start and pause as the original; anything else is 400 naming the actions', async () => {
    const put = (payload: string, type = 'application/json') =>
      app.server.inject({
        method: 'PUT',
        url: '/worker-pool/state',
        payload,
        headers: { 'content-type': type },
      });
    let r = await put('{"action":"start"}');
    assert.equal(r.statusCode, 200);
    assert.deepEqual(r.json(), { status: 'running' });
    r = await put('{"action":"pause"}');
    assert.deepEqual(r.json(), { status: 'paused' });
    // GET keeps the original's status and adds each live node's own view (one node here)
    const got = (await app.server.inject('/worker-pool/state')).json() as {
      status: string;
      nodes: { id: string; state: string }[];
    };
    assert.equal(got.status, 'paused');
    assert.deepEqual(
      got.nodes.map((n) => n.id),
      [app.nodeId],
    );
    for (const bad of ['{"action":"stop"}', '{}', '{"action":1}', '[]']) {
      r = await put(bad);
      assert.equal(r.statusCode, 400, bad);
      assert.match(r.json().error, /start.*pause/, bad);
    }
    r = await put('{"action":');
    assert.equal(r.statusCode, 400);
    assert.equal(r.json().code, 'INVALID_JSON');
    assert.match(r.json().error, /start.*pause/);
  });
});

describe('messages API', () => {
  test('POST /messages: 201 with the message; scheduled for later with send_at and priority', async () => {
    const sendAt = new Date(Date.now() + 3_600_000).toISOString();
    const r = await post('/messages', {
      content: 'later',
      recipient_phone_number: '+905551234567',
      send_at: sendAt,
      priority: 7,
    });
    assert.equal(r.status, 201);
    assert.equal(r.body.status, 'unsent');
    assert.equal(r.body.send_at, sendAt);
    assert.equal(r.body.priority, 7);
    assert.equal(r.body.sent_at, null);
    assert.equal(r.body.webhook_id, `msg_${String(r.body.id)}`);
  });

  test('bad input is a 4xx with a JSON error and a stable code, never a 500', async () => {
    const cases: [unknown, number, string][] = [
      [{ content: '', recipient_phone_number: '+90' }, 400, 'BAD_REQUEST'],
      [{ content: 'x'.repeat(161), recipient_phone_number: '+90' }, 400, 'BAD_REQUEST'],
      [{ content: 'ok', recipient_phone_number: 5 }, 400, 'BAD_REQUEST'],
      [{ content: 'ok' }, 400, 'BAD_REQUEST'],
      [{ content: 'ok', recipient_phone_number: '+90', extra: 1 }, 400, 'BAD_REQUEST'],
      [{ content: 'ok', recipient_phone_number: '+90', send_at: 'tomorrow' }, 400, 'BAD_REQUEST'],
      [{ content: 'ok', recipient_phone_number: '+90', priority: '5' }, 400, 'BAD_REQUEST'],
      [[1, 2], 400, 'BAD_REQUEST'],
    ];
    for (const [body, status, code] of cases) {
      const r = await post('/messages', body);
      assert.equal(r.status, status, JSON.stringify(body));
      assert.equal(r.body.code, code, JSON.stringify(body));
      assert.equal(typeof r.body.error, 'string');
    }
    const badJson = await app.server.inject({
      method: 'POST',
      url: '/messages',
      payload: '{"content":',
      headers: { 'content-type': 'application/json' },
    });
    assert.equal(badJson.statusCode, 400);
    assert.equal(badJson.json().code, 'INVALID_JSON');
    const text = await app.server.inject({
      method: 'POST',
      url: '/messages',
      payload: 'hello',
      headers: { 'content-type': 'text/plain' },
    });
    assert.equal(text.statusCode, 415);
    assert.equal(text.json().code, 'UNSUPPORTED_MEDIA_TYPE');
    const big = await app.server.inject({
      method: 'POST',
      url: '/messages',
      payload: JSON.stringify({ content: 'x', recipient_phone_number: 'y'.repeat(2_000_000) }),
      headers: { 'content-type': 'application/json' },
    });
    assert.equal(big.statusCode, 413);
    assert.equal(big.json().code, 'PAYLOAD_TOO_LARGE');
    const unknown = await app.server.inject('/nope');
    assert.equal(unknown.statusCode, 404);
    assert.equal(unknown.json().code, 'NOT_FOUND');
    const wrongMethod = await app.server.inject({
      method: 'PATCH',
      url: '/messages/0123456789abcdef01234567',
    });
    assert.equal(wrongMethod.statusCode, 405);
    assert.equal(wrongMethod.json().code, 'METHOD_NOT_ALLOWED');
    assert.match(String(wrongMethod.headers.allow), /GET/);
  });

  test('Idempotency-Key: a retry returns the same message; another body with the key is 422', async () => {
    const body = { content: 'once', recipient_phone_number: '+905550001111' };
    const a = await post('/messages', body, { 'idempotency-key': 'order-42' });
    const b = await post('/messages', body, { 'idempotency-key': 'order-42' });
    assert.equal(a.status, 201);
    assert.equal(b.status, 201);
    assert.equal(b.body.id, a.body.id);
    assert.equal(b.headers['idempotent-replayed'], 'true');
    const c = await post('/messages', { ...body, content: 'twice' }, { 'idempotency-key': 'order-42' });
    assert.equal(c.status, 422);
    assert.equal(c.body.code, 'IDEMPOTENCY_KEY_REUSED');
    const list = await app.server.inject('/messages?status=unsent&limit=1000');
    assert.equal((list.json() as { content: string }[]).filter((m) => m.content === 'once').length, 1);
  });

  test('POST /messages/batch: up to 1000 in one request; more or one bad row rejects it all', async () => {
    const messages = Array.from({ length: 1000 }, (_, i) => ({
      content: `b${i}`,
      recipient_phone_number: '+90555',
    }));
    const r = await post('/messages/batch', { messages });
    assert.equal(r.status, 201);
    assert.equal((r.body.messages as unknown[]).length, 1000);
    const tooMany = await post('/messages/batch', { messages: [...messages, messages[0]] });
    assert.equal(tooMany.status, 400);
    const before = (await app.store.countByStatus()).unsent;
    const oneBad = await post('/messages/batch', {
      messages: [messages[0], { content: '', recipient_phone_number: '+90' }],
    });
    assert.equal(oneBad.status, 400);
    assert.match(String(oneBad.body.error), /messages\/1/);
    assert.equal((await app.store.countByStatus()).unsent, before, 'nothing half-written');
    // several bad rows: each is named, with what is wrong with it
    const manyBad = await post('/messages/batch', {
      messages: [
        messages[0],
        { recipient_phone_number: '+1' },
        { content: 5, recipient_phone_number: '+1' },
        { content: 'x'.repeat(10_000), recipient_phone_number: '+1' },
        { content: 'a', recipient_phone_number: '+1', send_at: 'tomorrow' },
      ],
    });
    assert.equal(manyBad.status, 400);
    const paths = (manyBad.body.details as { path: string; message: string }[]).map((d) => d.path);
    for (const row of [
      'body/messages/1',
      'body/messages/2/content',
      'body/messages/3/content',
      'body/messages/4/send_at',
    ])
      assert.ok(paths.includes(row), `${row} in ${JSON.stringify(paths)}`);
    assert.ok(!paths.some((p) => p.startsWith('body/messages/0')), 'the good row is not blamed');
    assert.equal((await app.store.countByStatus()).unsent, before, 'a batch is all or nothing');
    const k1 = await post(
      '/messages/batch',
      { messages: messages.slice(0, 3) },
      { 'idempotency-key': 'batch-1' },
    );
    const k2 = await post(
      '/messages/batch',
      { messages: messages.slice(0, 3) },
      { 'idempotency-key': 'batch-1' },
    );
    assert.deepEqual(
      (k2.body.messages as { id: string }[]).map((m) => m.id),
      (k1.body.messages as { id: string }[]).map((m) => m.id),
    );
    const unsentBefore = (await app.store.countByStatus()).unsent;
    const longer = await post(
      '/messages/batch',
      { messages: messages.slice(0, 5) },
      { 'idempotency-key': 'batch-1' },
    );
    assert.equal(longer.status, 422);
    assert.equal((await app.store.countByStatus()).unsent, unsentBefore, 'a refused replay writes nothing');
  });

  test('GET /messages/:id with attempts; DELETE cancels unsent only', async () => {
    const r = await post('/messages', { content: 'to cancel', recipient_phone_number: '+90' });
    const id = String(r.body.id);
    const got = await app.server.inject(`/messages/${id}`);
    assert.equal(got.statusCode, 200);
    assert.deepEqual(got.json().attempts_log, []);
    const del = await app.server.inject({ method: 'DELETE', url: `/messages/${id}` });
    assert.equal(del.statusCode, 200);
    assert.equal(del.json().status, 'cancelled');
    const again = await app.server.inject({ method: 'DELETE', url: `/messages/${id}` });
    assert.equal(again.statusCode, 409);
    assert.equal(again.json().code, 'CONFLICT');
    assert.equal(
      (await app.server.inject({ method: 'DELETE', url: '/messages/0123456789abcdef01234567' })).statusCode,
      404,
    );
    assert.equal((await app.server.inject('/messages/not-an-id')).statusCode, 400);
    assert.equal((await app.server.inject('/messages/0123456789abcdef01234567')).statusCode, 404);
    const listed = await app.server.inject('/messages?status=cancelled');
    assert.ok((listed.json() as { id: string }[]).some((m) => m.id === id));
    assert.equal((await app.server.inject('/messages?status=bogus')).statusCode, 400);
  });

  test('POST /messages/:id/retry and /give-up: the operator decides on unknown messages; 409 otherwise', async () => {
    const ids: string[] = [];
    for (const content of ['held one', 'held two']) {
      // the highest priority, so the claim below takes exactly these two
      const created = await post('/messages', { content, recipient_phone_number: '+90', priority: 1000 });
      ids.push(String(created.body.id));
    }
    // what at-most-once recovery leaves behind when a process dies mid-delivery
    const now = Date.now();
    const claimed = await app.store.claim({ owner: 'dead', limit: 2, now: new Date(now), leaseMs: 1 });
    assert.deepEqual(claimed.map((m) => m.id).sort(), [...ids].sort());
    await app.store.recoverExpired(new Date(now + 10), 'unknown');
    const [one, two] = ids;
    const unknown = await app.server.inject(`/messages/${one}`);
    assert.equal(unknown.json().status, 'unknown');
    const listed = (await app.server.inject('/messages?status=unknown')).json() as { id: string }[];
    assert.ok(ids.every((id) => listed.some((m) => m.id === id)));

    const retried = await post(`/messages/${one}/retry`, {});
    assert.equal(retried.status, 200);
    assert.equal(retried.body.status, 'unsent');
    const gaveUp = await post(`/messages/${two}/give-up`, {});
    assert.equal(gaveUp.status, 200);
    assert.equal(gaveUp.body.status, 'failed');
    assert.match(String(gaveUp.body.last_error), /^given up by an operator/);

    const conflict = await post(`/messages/${one}/give-up`, {});
    assert.equal(conflict.status, 409);
    assert.equal(conflict.body.code, 'CONFLICT');
    assert.match(String(conflict.body.error), /is unsent; only an unknown message can be given up/);
    assert.equal((await post(`/messages/${two}/retry`, {})).body.status, 'unsent', 'failed can be retried');
    assert.equal((await post('/messages/0123456789abcdef01234567/retry', {})).status, 404);
    assert.equal((await post('/messages/nope/give-up', {})).status, 400);
  });

  test('health and readiness', async () => {
    assert.deepEqual((await app.server.inject('/healthz')).json(), { status: 'ok' });
    const ready = await app.server.inject('/readyz');
    assert.equal(ready.statusCode, 200);
    assert.equal(ready.json().checks.store, 'ok');
  });
});

describe('error codes', () => {
  test('docs/errors.md lists every code with its status, and nothing else', async () => {
    const doc = readFileSync('docs/errors.md', 'utf8');
    const rows = [...doc.matchAll(/^\| `([A-Z_]+)` +\| (\d{3}) /gm)].map((m) => [m[1], Number(m[2])]);
    assert.deepEqual(
      Object.fromEntries(rows),
      Object.fromEntries(Object.entries(ERROR_CODES).map(([code, v]) => [code, v.status])),
    );
  });
});

describe('OpenAPI', () => {
  test('Swagger UI is served and the generated document is valid OpenAPI 3', async () => {
    const ui = await app.server.inject('/swagger/');
    assert.equal(ui.statusCode, 200);
    assert.match(ui.body, /swagger/i);
    const doc = (await app.server.inject('/swagger/json')).json();
    assert.equal(doc.openapi, '3.0.3');
    for (const path of [
      '/sent-messages',
      '/worker-pool/state',
      '/messages',
      '/messages/batch',
      '/messages/{id}',
      '/healthz',
      '/readyz',
    ]) {
      assert.ok(doc.paths[path], `path ${path}`);
    }
    const result = await validateOpenApi(structuredClone(doc));
    assert.equal(result.valid, true, JSON.stringify(result));
    await parseOpenApi(structuredClone(doc));
    // Swagger UI's "Try it out" body is built from the examples: it reads like real use and is accepted
    const props = (doc.components.schemas.NewMessage as { properties: Record<string, { example?: unknown }> })
      .properties;
    // `topic` is the other way to say where a message goes (not with `destination`): no example, so
    // the body Swagger UI builds names the built-in destination
    const example = Object.fromEntries(
      Object.entries(props)
        .filter(([k]) => k !== 'topic')
        .map(([k, v]) => [k, v.example]),
    );
    assert.equal(props.topic?.example, undefined);
    assert.equal(example.recipient_phone_number, '+905551111111');
    assert.equal(example.destination, 'default');
    assert.ok(
      Object.values(example).every((v) => v !== undefined),
      'every field has an example',
    );
    const tried = await app.server.inject({ method: 'POST', url: '/messages', payload: example });
    assert.equal(tried.statusCode, 201, tried.body);
    await app.server.inject({ method: 'DELETE', url: `/messages/${(tried.json() as { id: string }).id}` });
    const yaml = await app.server.inject('/swagger/yaml');
    assert.equal(yaml.statusCode, 200);
    assert.match(yaml.body, /openapi: 3\.0\.3/);
  });
});
