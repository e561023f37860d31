/**
 * The API against clients that are careless or hostile: what the schema allows but no one
 * thought of, requests that never finish, methods and paths that are not there. Every answer
 * is `{error, code}` with a documented code; nothing is a 500, nothing stored is changed.
 */
import assert from 'node:assert/strict';
import { connect, type Socket } from 'node:net';
import type { AddressInfo } from 'node:net';
import { Writable } from 'node:stream';
import { after, before, describe, test } from 'node:test';
import pino from 'pino';
import type { App } from '../src/app/app.js';
import { testApp } from './helpers/app.js';
import { ERROR_CODES } from '../src/errors/codes.js';
import { createApp } from '../src/app/app.js';
import { loadConfig } from '../src/config/config.js';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

let app: App;
let cleanup: () => Promise<void>;
before(async () => {
  ({ app, cleanup } = await testApp());
});
after(async () => {
  await cleanup();
});

const CODES = new Set(Object.keys(ERROR_CODES));

/** Every error: JSON {error, code} with a code of docs/errors.md whose status is the one sent. */
function assertErrorShape(status: number, body: string, what: string): { error: string; code: string } {
  let parsed: { error?: unknown; code?: unknown };
  try {
    parsed = JSON.parse(body) as typeof parsed;
  } catch {
    assert.fail(`${what}: body is not JSON: ${body.slice(0, 200)}`);
  }
  assert.equal(typeof parsed.error, 'string', `${what}: error field`);
  assert.equal(typeof parsed.code, 'string', `${what}: code field`);
  const code = parsed.code as string;
  assert.ok(CODES.has(code), `${what}: code ${code} is not in docs/errors.md`);
  assert.ok(!code.startsWith('FST_'), `${what}: a Fastify code leaked`);
  assert.equal(ERROR_CODES[code as keyof typeof ERROR_CODES].status, status, `${what}: status of ${code}`);
  assert.deepEqual(
    Object.keys(parsed).filter((k) => !['error', 'code', 'details'].includes(k)),
    [],
    `${what}: only error, code, details`,
  );
  return parsed as { error: string; code: string };
}

async function inject(method: string, url: string, body?: string, headers: Record<string, string> = {}) {
  const r = await app.server.inject({
    method: method as 'GET',
    url,
    ...(body !== undefined ? { payload: body } : {}),
    headers,
  });
  return { status: r.statusCode, body: r.body, headers: r.headers };
}

const jsonHeaders = { 'content-type': 'application/json' };

describe("the original's requests keep working", () => {
  test("the original's router: a trailing slash and any letter case reach the same route, on every route", async () => {
    for (const [method, url, body] of [
      ['GET', '/sent-messages/', undefined],
      ['GET', '/SENT-MESSAGES', undefined],
      ['GET', '/Sent-Messages/?limit=2', undefined],
      ['PUT', '/worker-pool/state/', '{"action":"start"}'],
      ['PUT', '/WORKER-POOL/STATE', '{"action":"start"}'],
      ['GET', '/messages/', undefined],
      ['GET', '/healthz/', undefined],
    ] as const) {
      const r = await inject(method, url, body, body ? jsonHeaders : {});
      assert.equal(r.status, 200, `${method} ${url}: ${r.body}`);
    }
    // an id keeps its case: it is checked as written (lower-case hex)
    const upper = await inject('GET', '/MESSAGES/0123456789ABCDEF01234567');
    assert.equal(assertErrorShape(upper.status, upper.body, 'upper-case id').code, 'INVALID_ID');
  });

  test('unknown query parameters are ignored (cache busters, page=2); the known ones are still checked', async () => {
    for (const url of [
      '/sent-messages?_=1733400000000',
      '/sent-messages?page=2',
      '/sent-messages/?page=2&limit=5&_=1',
      '/messages?_=1&status=unsent',
      '/worker-pool/state?_=1',
      '/healthz?_=1',
    ]) {
      const r = await inject('GET', url);
      assert.equal(r.status, 200, `${url}: ${r.body}`);
    }
    const bad = await inject('GET', '/sent-messages?page=2&limit=abc');
    assert.equal(assertErrorShape(bad.status, bad.body, 'limit=abc').code, 'BAD_REQUEST');
    // the next link carries only what the service reads
    const r = await inject('GET', '/messages?_=1&limit=1');
    assert.doesNotMatch(String(r.headers.link ?? ''), /_=/);
  });

  test('PUT /worker-pool/state: the field in any letter case (Action), as JSON or a form; the value as written', async () => {
    const form = { 'content-type': 'application/x-www-form-urlencoded' };
    let r = await inject('PUT', '/worker-pool/state', '{"Action":"pause"}', jsonHeaders);
    assert.deepEqual(JSON.parse(r.body), { status: 'paused' });
    r = await inject('PUT', '/worker-pool/state', 'ACTION=start', form);
    assert.deepEqual(JSON.parse(r.body), { status: 'running' });
    r = await inject('PUT', '/worker-pool/state', 'Action=pause', form);
    assert.deepEqual(JSON.parse(r.body), { status: 'paused' });
    r = await inject('PUT', '/worker-pool/state', '{"action":"PAUSE"}', jsonHeaders);
    assert.equal(assertErrorShape(r.status, r.body, 'PAUSE').code, 'INVALID_ACTION');
    app.pool.start();
  });

  test('PUT /worker-pool/state takes a form body (curl -d action=pause), as the original did', async () => {
    const form = { 'content-type': 'application/x-www-form-urlencoded' };
    let r = await inject('PUT', '/worker-pool/state', 'action=pause', form);
    assert.equal(r.status, 200, r.body);
    assert.deepEqual(JSON.parse(r.body), { status: 'paused' });
    r = await inject('PUT', '/worker-pool/state', 'action=start', form);
    assert.deepEqual(JSON.parse(r.body), { status: 'running' });
    app.pool.pause();
    r = await inject('PUT', '/worker-pool/state', 'action=stop', form);
    assert.equal(assertErrorShape(r.status, r.body, 'bad form action').code, 'INVALID_ACTION');
  });

  test('PUT /worker-pool/state with another content type answers 400, as the original did', async () => {
    for (const type of ['text/plain', 'application/xml', 'multipart/form-data; boundary=x', 'image/png']) {
      const r = await inject('PUT', '/worker-pool/state', 'action=pause', { 'content-type': type });
      assert.equal(r.status, 400, `${type}: ${r.body}`);
      assert.equal(assertErrorShape(r.status, r.body, type).code, 'INVALID_ACTION');
    }
    // other routes keep JSON only
    const r = await inject('POST', '/messages', 'content=a&recipient_phone_number=1', {
      'content-type': 'application/x-www-form-urlencoded',
    });
    assert.equal(assertErrorShape(r.status, r.body, 'form on /messages').code, 'UNSUPPORTED_MEDIA_TYPE');
  });

  test("the original's Swagger URLs: /swagger/index.html (UI) and /swagger/doc.json (document)", async () => {
    const ui = await inject('GET', '/swagger/index.html');
    assert.equal(ui.status, 200);
    assert.match(String(ui.headers['content-type']), /text\/html/);
    assert.match(ui.body, /swagger/i);
    const doc = await inject('GET', '/swagger/doc.json');
    assert.equal(doc.status, 200);
    const json = await inject('GET', '/swagger/json');
    assert.deepEqual(JSON.parse(doc.body), JSON.parse(json.body));
  });
});

describe('bad input is refused by name, never stored changed', () => {
  test('lone UTF-16 surrogates: 400 naming the field, in a message, a batch row and any field', async () => {
    const cases: [string, string, string][] = [
      ['/messages', '{"content":"x\\ud800y","recipient_phone_number":"+1"}', 'body/content'],
      ['/messages', '{"content":"ok","recipient_phone_number":"+1\\udfff"}', 'body/recipient_phone_number'],
      ['/messages', '{"content":"ok\\udc00\\ud800","recipient_phone_number":"+1"}', 'body/content'],
      [
        '/messages/batch',
        '{"messages":[{"content":"a","recipient_phone_number":"+1"},{"content":"b\\ud83d","recipient_phone_number":"+2"}]}',
        'body/messages/1/content',
      ],
    ];
    const before = (await app.store.countByStatus()).unsent;
    for (const [url, body, path] of cases) {
      const r = await inject('POST', url, body, jsonHeaders);
      assert.equal(r.status, 400, r.body);
      const e = assertErrorShape(r.status, r.body, body);
      assert.equal(e.code, 'BAD_REQUEST');
      assert.match(e.error, new RegExp(path.replace(/\//g, '\\/')));
    }
    assert.equal((await app.store.countByStatus()).unsent, before, 'nothing stored');
    // a well-formed pair (an emoji as \ud83d\ude00) is fine and comes back unchanged
    const ok = await inject(
      'POST',
      '/messages',
      '{"content":"hi \\ud83d\\ude00","recipient_phone_number":"+1"}',
      jsonHeaders,
    );
    assert.equal(ok.status, 201);
    const id = (JSON.parse(ok.body) as { id: string }).id;
    const got = JSON.parse((await inject('GET', `/messages/${id}`)).body) as { content: string };
    assert.equal(got.content, 'hi 😀');
  });

  test('recipient_phone_number: blank or with control characters is 400; what the original stored still goes in', async () => {
    for (const phone of [
      ' ',
      '\t',
      '   \u00a0',
      '+90\n555',
      '+90\u0000',
      '\u007f+1',
      '+1\u2028',
      '+1\u0085',
    ]) {
      for (const [url, body, path] of [
        ['/messages', { content: 'x', recipient_phone_number: phone }, 'body/recipient_phone_number'],
        [
          '/messages/batch',
          {
            messages: [
              { content: 'x', recipient_phone_number: '+1' },
              { content: 'y', recipient_phone_number: phone },
            ],
          },
          'body/messages/1/recipient_phone_number',
        ],
      ] as const) {
        const r = await inject('POST', url, JSON.stringify(body), jsonHeaders);
        assert.equal(r.status, 400, `${JSON.stringify(phone)}: ${r.body}`);
        const e = assertErrorShape(r.status, r.body, JSON.stringify(phone));
        assert.equal(e.code, 'BAD_REQUEST');
        assert.ok(
          e.error.includes(path) || r.body.includes(path),
          `${JSON.stringify(phone)} names ${path}: ${r.body}`,
        );
      }
    }
    for (const phone of [
      '+905551111111',
      '0555 111 11 11',
      '(555) 123-4567',
      '+1-202-555-0173 ext. 12',
      ' +1 ',
    ]) {
      const r = await inject(
        'POST',
        '/messages',
        JSON.stringify({ content: 'x', recipient_phone_number: phone }),
        jsonHeaders,
      );
      assert.equal(r.status, 201, `${phone}: ${r.body}`);
      assert.equal((JSON.parse(r.body) as { recipient_phone_number: string }).recipient_phone_number, phone);
    }
  });

  test('an Idempotency-Key replay with the JSON keys in another order or spacing is the same request', async () => {
    const h = { ...jsonHeaders, 'idempotency-key': `order-${Date.now()}` };
    const first = await inject(
      'POST',
      '/messages',
      '{"content":"a","recipient_phone_number":"+1","priority":3}',
      h,
    );
    assert.equal(first.status, 201);
    const again = await inject(
      'POST',
      '/messages',
      '{ "priority": 3,\n "recipient_phone_number": "+1", "content": "a" }',
      h,
    );
    assert.equal(again.status, 201, again.body);
    assert.equal(again.headers['idempotent-replayed'], 'true');
    assert.equal(JSON.parse(again.body).id, JSON.parse(first.body).id);
    const other = await inject(
      'POST',
      '/messages',
      '{"priority":4,"recipient_phone_number":"+1","content":"a"}',
      h,
    );
    assert.equal(assertErrorShape(other.status, other.body, 'other body').code, 'IDEMPOTENCY_KEY_REUSED');
    // batches too, rows with keys in any order
    const hb = { ...jsonHeaders, 'idempotency-key': `batch-${Date.now()}` };
    const b1 = await inject(
      'POST',
      '/messages/batch',
      '{"messages":[{"content":"a","recipient_phone_number":"+1"}]}',
      hb,
    );
    assert.equal(b1.status, 201);
    const b2 = await inject(
      'POST',
      '/messages/batch',
      '{"messages":[{"recipient_phone_number":"+1","content":"a"}]}',
      hb,
    );
    assert.equal(b2.status, 201, b2.body);
    assert.equal(b2.headers['idempotent-replayed'], 'true');
  });

  test('bodyless operations accept Content-Type: application/json with an empty body', async () => {
    const created = JSON.parse(
      (
        await inject(
          'POST',
          '/messages',
          '{"content":"c","recipient_phone_number":"+1","send_at":"2099-01-01T00:00:00Z"}',
          jsonHeaders,
        )
      ).body,
    ) as { id: string };
    const del = await inject('DELETE', `/messages/${created.id}`, '', jsonHeaders);
    assert.equal(del.status, 200, del.body);
    assert.equal(JSON.parse(del.body).status, 'cancelled');
    const retry = await inject('POST', `/messages/${created.id}/retry`, '', jsonHeaders);
    assert.equal(assertErrorShape(retry.status, retry.body, 'retry').code, 'CONFLICT');
    const giveUp = await inject('POST', `/messages/${created.id}/give-up`, '', jsonHeaders);
    assert.equal(assertErrorShape(giveUp.status, giveUp.body, 'give-up').code, 'CONFLICT');
    const get = await inject('GET', '/messages', '', jsonHeaders);
    assert.equal(get.status, 200);
    // where a body is required, an empty one is still refused
    const empty = await inject('POST', '/messages', '', jsonHeaders);
    assert.equal(assertErrorShape(empty.status, empty.body, 'empty create').code, 'INVALID_JSON');
  });

  test('?status=unsent pages in delivery order through the Link header; a cursor of another listing is refused', async () => {
    const rows = [3, 7, 7, 1].map((priority, i) => ({
      content: `queue ${i}`,
      recipient_phone_number: '+1',
      priority,
      send_at: `2099-01-0${i + 1}T00:00:00Z`,
    }));
    const made = await inject('POST', '/messages/batch', JSON.stringify({ messages: rows }), jsonHeaders);
    assert.equal(made.status, 201, made.body);
    const seen: { content: string; priority: number }[] = [];
    let url: string | null = '/messages?status=unsent&limit=2';
    while (url) {
      const r = await inject('GET', url);
      assert.equal(r.status, 200, r.body);
      seen.push(...(JSON.parse(r.body) as typeof seen));
      url = /<([^>]+)>; rel="next"/.exec(String(r.headers.link ?? ''))?.[1] ?? null;
    }
    const queued = seen.filter((m) => m.content.startsWith('queue '));
    assert.deepEqual(
      queued.map((m) => m.content),
      ['queue 1', 'queue 2', 'queue 0', 'queue 3'],
      'priority first, then due time',
    );
    const first = await inject('GET', '/messages?status=unsent&limit=1');
    const dueCursor = /cursor=([^&>]+)/.exec(String(first.headers.link))?.[1] ?? '';
    const wrong = await inject('GET', `/messages?status=failed&cursor=${dueCursor}`);
    assert.equal(
      assertErrorShape(wrong.status, wrong.body, 'cursor of another listing').code,
      'INVALID_CURSOR',
    );
  });

  test('a bad message id is INVALID_ID, as docs/errors.md says', async () => {
    for (const id of ['zzz', '0123456789ABCDEF01234567', '0123', 'g'.repeat(24)]) {
      const r = await inject('GET', `/messages/${id}`);
      assert.equal(assertErrorShape(r.status, r.body, id).code, 'INVALID_ID');
    }
  });
});

describe('methods and paths that are not there', () => {
  test('GET and DELETE /messages/batch: 405 with Allow, not a 400 about the id; every 405 has a non-empty Allow without the refused method', async () => {
    for (const [method, url, allow] of [
      ['GET', '/messages/batch', 'POST'],
      ['DELETE', '/messages/batch', 'POST'],
      ['PUT', '/messages/batch/', 'POST'],
      ['PATCH', '/messages', 'GET, POST'],
      ['PATCH', '/Messages/', 'GET, POST'],
      ['DELETE', '/sent-messages/', 'GET'],
      ['POST', '/SENT-MESSAGES', 'GET'],
      ['DELETE', '/worker-pool/state/', 'GET, PUT'],
      ['DELETE', '/sent-messages', 'GET'],
      ['POST', '/worker-pool/state', 'GET, PUT'],
      ['QUERY', '/healthz', 'GET'],
      ['QUERY', '/messages/0123456789abcdef01234567', 'GET, DELETE'],
    ] as const) {
      const r = await inject(method, url);
      assert.equal(r.status, 405, `${method} ${url}: ${r.body}`);
      const { error } = assertErrorShape(r.status, r.body, `${method} ${url}`);
      assert.equal(r.headers.allow, allow, `${method} ${url}`);
      assert.doesNotMatch(error, new RegExp(`use .*\\b${method}\\b`), `${method} ${url}: ${error}`);
    }
  });

  test("below a path that takes an id's place, nothing is a resource: 404, not a 405 with nothing to allow", async () => {
    for (const [method, url] of [
      ['POST', '/messages/batch/retry'],
      ['POST', '/messages/batch/give-up'],
      ['GET', '/messages/batch/retry/'],
    ] as const) {
      const r = await inject(method, url);
      assert.equal(assertErrorShape(r.status, r.body, `${method} ${url}`).code, 'NOT_FOUND');
      assert.equal(r.headers.allow, undefined);
    }
  });

  test('errors raised outside the routes keep the shape: bad URL, long param, path traversal, unknown route', async () => {
    for (const url of [
      '/messages/%zz',
      '/messages/%E0%A4%A',
      `/messages/${'a'.repeat(300)}`,
      '/swagger/../package.json',
      '/swagger/static/..%2f..%2fpackage.json',
      '/swagger/%2e%2e/%2e%2e/etc/passwd',
      '/nope',
      '/messages?limit=abc',
      '/messages?status=bogus',
      '/messages?cursor=garbage',
    ]) {
      const r = await inject('GET', url);
      assert.ok(r.status >= 400 && r.status < 500, `${url}: ${r.status}`);
      assertErrorShape(r.status, r.body, url);
    }
    // an enum error says so once, not once per value
    const bad = await inject('GET', '/messages?status=bogus');
    assert.equal((JSON.parse(bad.body) as { details: unknown[] }).details.length, 1);
  });
});

/** A real listener: what the HTTP parser rejects never reaches inject(). */
describe('over a socket', () => {
  let port = 0;
  let logs: string[] = [];
  let wire: { app: App; dir: string };
  before(async () => {
    const dir = mkdtempSync(join(tmpdir(), 'ms-wire-'));
    const config = loadConfig(
      {
        SQLITE_PATH: join(dir, 'm.db'),
        WEBHOOK_URL: 'http://127.0.0.1:9/unused',
        POOL_INITIAL_JOB_FETCH: 'false',
        API_REQUEST_TIMEOUT: '1500ms',
        API_HEADERS_TIMEOUT: '1s',
        LOG_LEVEL: 'debug',
      },
      process.cwd(),
    );
    const sink = new Writable({
      write(chunk: Buffer, _enc, cb) {
        logs.push(chunk.toString());
        cb();
      },
    });
    const wired = await createApp(config, pino({ level: 'debug' }, sink));
    await wired.server.listen({ port: 0, host: '127.0.0.1' });
    port = (wired.server.server.address() as AddressInfo).port;
    wire = { app: wired, dir };
  });
  after(async () => {
    await wire.app.close();
    rmSync(wire.dir, { recursive: true, force: true });
  });

  /** Sends raw bytes; resolves with what came back once the server closes or `ms` passes. */
  function raw(bytes: string, ms = 3000): Promise<{ text: string; closedAfterMs: number | null }> {
    return new Promise((resolve) => {
      const t0 = Date.now();
      const s: Socket = connect(port, '127.0.0.1', () => s.write(bytes));
      let text = '';
      s.on('data', (d: Buffer) => (text += d.toString()));
      s.on('error', () => undefined);
      const timer = setTimeout(() => {
        s.destroy();
        resolve({ text, closedAfterMs: null });
      }, ms);
      s.on('close', () => {
        clearTimeout(timer);
        resolve({ text, closedAfterMs: Date.now() - t0 });
      });
    });
  }

  function parseResponse(text: string): { status: number; body: string } {
    const [head = '', body = ''] = text.split('\r\n\r\n');
    return { status: Number(head.split(' ')[1]), body };
  }

  test('unknown methods, malformed requests and huge headers: 501/400/431 in the error shape', async () => {
    for (const [req, status] of [
      ['FOO /messages HTTP/1.1\r\nHost: x\r\n\r\n', 501],
      ['GET /messages HTTP/9.9\r\nHost: x\r\n\r\n', 400],
      ['GET /messages HTTP/1.1\r\nHost: x\r\nBad Header\r\n\r\n', 400],
      [`GET /messages HTTP/1.1\r\nHost: x\r\nX-Big: ${'a'.repeat(20_000)}\r\n\r\n`, 431],
      ['POST /messages HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello', 400],
    ] as const) {
      const { text } = await raw(req);
      const r = parseResponse(text);
      assert.equal(r.status, status, `${JSON.stringify(req.slice(0, 40))}: ${text.slice(0, 200)}`);
      assertErrorShape(r.status, r.body, req.slice(0, 30));
    }
  });

  test('a body that stops half-way is answered 408 and closed after api.requestTimeout', async () => {
    const stuck =
      'POST /messages HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n5\r\n{"con\r\n';
    const { text, closedAfterMs } = await raw(stuck, 6000);
    assert.ok(closedAfterMs !== null && closedAfterMs < 3500, `closed after ${closedAfterMs} ms`);
    const r = parseResponse(text);
    assert.equal(r.status, 408);
    assert.equal(assertErrorShape(r.status, r.body, '408').code, 'REQUEST_TIMEOUT');
    // headers that never finish are cut at api.headersTimeout
    const slowHeaders = await raw('GET /healthz HTTP/1.1\r\nHost: x\r\n', 6000);
    assert.ok(slowHeaders.closedAfterMs !== null && slowHeaders.closedAfterMs < 3500);
  });

  test('a client that aborts its request is logged at debug without a stack, never as "store unavailable"', async () => {
    logs = [];
    for (let i = 0; i < 20; i++) {
      await new Promise<void>((resolve) => {
        const s = connect(port, '127.0.0.1', () => {
          s.write(
            'POST /messages HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{"content":',
          );
          setTimeout(() => {
            s.destroy();
            resolve();
          }, 20);
        });
        s.on('error', () => undefined);
      });
    }
    await new Promise((r) => setTimeout(r, 300));
    const lines = logs
      .flatMap((l) => l.split('\n'))
      .filter(Boolean)
      .map((l) => JSON.parse(l) as Record<string, unknown>);
    assert.ok(!lines.some((l) => /store unavailable/.test(String(l.msg))), 'no store unavailable');
    assert.ok(
      !lines.some((l) => typeof l.err === 'object' && l.err !== null && 'stack' in l.err),
      'no stack',
    );
    assert.ok(
      lines.some((l) => l.msg === 'client aborted the request' && l.level === 20),
      'a debug line per abort',
    );
    assert.ok(lines.filter((l) => (l.level as number) >= 40).length === 0, 'nothing at warn or above');
  });
});
