/**
 * Text a client sends that no store keeps as written, on every store alike (docs/decisions.md,
 * "Text every store keeps", "JSON bodies"): U+0000 and lone surrogates in any field, bytes that
 * are not UTF-8, a declared charset other than UTF-8, JSON nested past the limit, an
 * Idempotency-Key that is not printable ASCII. Each is a 4xx naming the problem, never a 500,
 * and nothing is stored. Before: U+0000 in content was a 500 on PostgreSQL and stored on SQLite;
 * raw 0xFF was stored as U+FFFD; 8,000 levels of nesting were a 500 (RangeError).
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { App } from '../src/app/app.js';
import { testApp } from './helpers/app.js';
import { serviceUrl, uniqueName } from './helpers/services.js';
import { MAX_JSON_DEPTH } from '../src/api/json-body.js';

const stores: { name: string; env: Record<string, string> | null }[] = [
  { name: 'sqlite', env: {} },
  (() => {
    const url = serviceUrl('DATABASE_URL');
    return { name: 'postgres', env: url ? { DATABASE_URL: url, DATABASE_SCHEMA: uniqueName('text') } : null };
  })(),
  (() => {
    const url = serviceUrl('MONGODB_URI');
    return { name: 'mongodb', env: url ? { MONGODB_URI: url, MESSAGES_DB_NAME: uniqueName('text') } : null };
  })(),
];

const JSON_TYPE = { 'content-type': 'application/json' };

for (const s of stores) {
  describe(`${s.name}: text no store keeps is refused at the edge`, { skip: s.env === null }, () => {
    let app: App;
    let cleanup: () => Promise<void>;
    before(async () => {
      ({ app, cleanup } = await testApp(s.env ?? {}));
    });
    after(async () => {
      const store = app.store as { dropSchema?: () => Promise<void>; dropDatabase?: () => Promise<void> };
      await (store.dropSchema ?? store.dropDatabase)?.call(store);
      await cleanup();
    });

    async function post(
      url: string,
      payload: string | Buffer,
      headers: Record<string, string> = JSON_TYPE,
      method: 'POST' | 'PUT' = 'POST',
    ) {
      const r = await app.server.inject({ method, url, payload, headers });
      return {
        status: r.statusCode,
        body: JSON.parse(r.body) as { error: string; code: string; details?: { path: string }[] },
      };
    }
    const total = async () => Object.values(await app.store.countByStatus()).reduce((a, b) => a + b, 0);

    test('U+0000 in content, phone number or a batch row: 400 naming the field, nothing stored', async () => {
      const before = await total();
      const cases: [string, string, string][] = [
        ['/messages', '{"content":"a\\u0000b","recipient_phone_number":"+1"}', 'body/content'],
        ['/messages', '{"content":"ok","recipient_phone_number":"+1\\u0000"}', 'body/recipient_phone_number'],
        [
          '/messages/batch',
          '{"messages":[{"content":"a","recipient_phone_number":"+1"},{"content":"\\u0000","recipient_phone_number":"+2"}]}',
          'body/messages/1/content',
        ],
        ['/messages', '{"content":"ok","recipient_phone_number":"+1","x\\u0000":1}', 'body/x'],
      ];
      for (const [url, body, path] of cases) {
        const r = await post(url, body);
        assert.equal(r.status, 400, `${body}: ${JSON.stringify(r.body)}`);
        assert.equal(r.body.code, 'BAD_REQUEST');
        assert.ok(r.body.error.includes(path), `${r.body.error} names ${path}`);
      }
      assert.equal(await total(), before, 'nothing stored');
      // tabs and newlines are text like any other
      const ok = await post('/messages', '{"content":"line 1\\n\\tline 2","recipient_phone_number":"+1"}');
      assert.equal(ok.status, 201);
    });

    test('bytes that are not UTF-8 (0xFF, an encoded surrogate): 400 naming the field, never stored as U+FFFD', async () => {
      const before = await total();
      const bad = (bytes: number[]) =>
        Buffer.concat([
          Buffer.from('{"content":"ab'),
          Buffer.from(bytes),
          Buffer.from('cd","recipient_phone_number":"+1"}'),
        ]);
      for (const bytes of [[0xff], [0xed, 0xa0, 0x80], [0xc3], [0xf8, 0x88, 0x80, 0x80, 0x80]]) {
        const r = await post('/messages', bad(bytes));
        assert.equal(r.status, 400, JSON.stringify(r.body));
        assert.match(r.body.error, /^body\/content is not valid UTF-8/);
        assert.equal(r.body.details?.[0]?.path, 'body/content');
      }
      assert.equal(await total(), before);
      // the same text in UTF-8 is taken and comes back unchanged
      const ok = await post(
        '/messages',
        Buffer.from('{"content":"café ü 😀","recipient_phone_number":"+1"}'),
      );
      assert.equal(ok.status, 201);
    });

    test('a charset other than UTF-8 is 415 (JSON is UTF-8); utf-8 in any spelling is fine', async () => {
      const body = Buffer.from('{"content":"caf\xe9","recipient_phone_number":"+1"}', 'latin1');
      for (const type of ['application/json; charset=iso-8859-1', 'application/json;charset="latin1"']) {
        const r = await post('/messages', body, { 'content-type': type });
        assert.equal(r.status, 415, JSON.stringify(r.body));
        assert.equal(r.body.code, 'UNSUPPORTED_MEDIA_TYPE');
        assert.match(r.body.error, /charset/);
      }
      for (const type of ['application/json; charset=UTF-8', 'application/json; charset="utf8"']) {
        const r = await post('/messages', '{"content":"ok","recipient_phone_number":"+1"}', {
          'content-type': type,
        });
        assert.equal(r.status, 201, `${type}: ${JSON.stringify(r.body)}`);
      }
    });

    test(`JSON nested past ${MAX_JSON_DEPTH} levels is 400 on every JSON route, at any depth (no stack overflow)`, async () => {
      const routes: [string, 'POST' | 'PUT'][] = [
        ['/messages', 'POST'],
        ['/messages/batch', 'POST'],
        ['/worker-pool/state', 'PUT'],
        ['/keys', 'POST'],
        ['/messages/0123456789abcdef01234567/retry', 'POST'],
      ];
      for (const depth of [MAX_JSON_DEPTH + 1, 8000, 100_000]) {
        const deep = '{"a":'.repeat(depth) + '1' + '}'.repeat(depth);
        const deepArray = `{"messages":${'['.repeat(depth)}${']'.repeat(depth)}}`;
        for (const [url, method] of routes) {
          for (const body of [deep, deepArray]) {
            const r = await post(url, body, JSON_TYPE, method);
            assert.equal(
              r.status,
              400,
              `${method} ${url} at depth ${depth}: ${JSON.stringify(r.body).slice(0, 200)}`,
            );
            assert.match(r.body.error, /nests deeper than/);
          }
        }
      }
      // at the limit the body is read (and refused by the schema, not the depth)
      const atLimit = '{"a":'.repeat(MAX_JSON_DEPTH - 1) + '1' + '}'.repeat(MAX_JSON_DEPTH - 1);
      const r = await post('/messages', atLimit);
      assert.equal(r.status, 400);
      assert.doesNotMatch(r.body.error, /nests deeper/);
    });

    test('an Idempotency-Key that is not printable ASCII is 400 naming the header', async () => {
      const before = await total();
      for (const key of ['caf\xc3\xa9', 'a\x01b', 'tab\there']) {
        const r = await app.server.inject({
          method: 'POST',
          url: '/messages',
          payload: '{"content":"ok","recipient_phone_number":"+1"}',
          headers: { ...JSON_TYPE, 'idempotency-key': key },
        });
        assert.equal(r.statusCode, 400, r.body);
        assert.match(r.body, /idempotency-key/);
      }
      assert.equal(await total(), before);
    });
  });
}
