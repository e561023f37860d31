import assert from 'node:assert/strict';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, test } from 'node:test';
import type { App } from '../src/app/app.js';
import { createApiKey } from '../src/auth/key-admin.js';
import { secretBytes, verify } from '../src/delivery/signature.js';
import { testApp, waitFor } from './helpers/app.js';
import { runCli } from './helpers/cli.js';

/** A receiver that records every request (path, headers, body) and answers as `answer` says. */
class Receiver {
  readonly got: { path: string; headers: IncomingHttpHeaders; body: string }[] = [];
  answer: (path: string) => { status: number; headers?: Record<string, string> } = () => ({ status: 200 });
  private readonly server: Server = createServer((req, res) => {
    let body = '';
    req.setEncoding('utf8');
    req.on('data', (c: string) => (body += c));
    req.on('end', () => {
      this.got.push({ path: req.url ?? '', headers: req.headers, body });
      const a = this.answer(req.url ?? '');
      res.writeHead(a.status, { 'content-type': 'application/json', ...a.headers });
      res.end(JSON.stringify({ messageId: `r-${this.got.length}` }));
    });
  });
  port = 0;
  async start(): Promise<this> {
    await new Promise<void>((r) => this.server.listen(0, '127.0.0.1', r));
    this.port = (this.server.address() as AddressInfo).port;
    return this;
  }
  url(path: string): string {
    return `http://127.0.0.1:${this.port}${path}`;
  }
  close(): Promise<void> {
    this.server.closeAllConnections();
    return new Promise((r) => this.server.close(() => r()));
  }
}

const SECRET_A = 'whsec_' + Buffer.from('destination-a-secret-32-bytes!!!').toString('base64');
const SECRET_B = 'whsec_' + Buffer.from('destination-b-secret-32-bytes!!!').toString('base64');

let app: App;
let cleanup: () => Promise<void>;
let main: Receiver;
let other: Receiver;

async function call(method: string, url: string, body?: unknown, headers: Record<string, string> = {}) {
  const r = await app.server.inject({
    method: method as 'GET',
    url,
    ...(body === undefined ? {} : { payload: JSON.stringify(body) }),
    // a body-less POST from no one in particular needs the JSON type too (the cross-site form guard)
    headers: {
      ...(body === undefined && method === 'GET' ? {} : { 'content-type': 'application/json' }),
      ...headers,
    },
  });
  return {
    status: r.statusCode,
    body: (r.body ? r.json() : null) as Record<string, unknown> & Record<string, unknown>[],
    headers: r.headers,
  };
}

before(async () => {
  main = await new Receiver().start();
  other = await new Receiver().start();
  ({ app, cleanup } = await testApp({
    WEBHOOK_URL: main.url('/original'),
    POOL_INITIAL_JOB_FETCH: 'true',
    RETRY_BASE_DELAY: '10ms',
    RETRY_MAX_ATTEMPTS: '2',
    // the original's 2 messages per 2 minutes would hold these tests up
    RATE_LIMITER_ENABLED: 'false',
  }));
  // as `serve` does
  app.pool.start();
});
after(async () => {
  await cleanup();
  await main.close();
  await other.close();
});

describe('the destination resource', () => {
  test('create, read, list, change with If-Match, pause, resume, delete; secrets never shown', async () => {
    const made = await call('POST', '/destinations', {
      id: 'billing',
      url: other.url('/hooks/billing?tenant=acme'),
      description: 'billing',
      headers: { 'X-Tenant': 'acme' },
      secrets: [{ secret: SECRET_A }, { secret: SECRET_B, expires_at: '2027-01-01T00:00:00Z' }],
      timeout: '5s',
      rate_limit: { limit: 10, period: '1s' },
      max_in_flight: 4,
      retry: { max_attempts: 3, base_delay: '500ms', max_delay: '1m' },
      topics: ['invoice.paid'],
      metadata: { team: 'ledger' },
    });
    assert.equal(made.status, 201, JSON.stringify(made.body));
    assert.equal(made.headers.etag, '"1"');
    assert.equal(made.body.status, 'active');
    assert.equal(made.body.builtin, false);
    assert.deepEqual(made.body.rate_limit, { limit: 10, period: '1s', burst: 10 });
    assert.equal(made.body.timeout, '5s');
    const shown = JSON.stringify(made.body);
    assert.ok(!shown.includes(SECRET_A.slice(6, 30)) && !shown.includes(SECRET_B.slice(6, 30)), shown);
    assert.match(shown, /whsec_…/);

    const got = await call('GET', '/destinations/billing');
    assert.equal(got.status, 200);
    // one destination comes with its health; the rest is what creating it answered
    const { health, ...rest } = got.body as Record<string, unknown> & { health?: unknown };
    assert.deepEqual(rest, made.body);
    assert.deepEqual(health, {
      circuit: 'closed',
      circuit_opened_at: null,
      circuit_until: null,
      failing_since: null,
      effective_rate: 10,
      slowed_down: false,
      in_flight: 0,
      due_backlog: 0,
      last_success_at: null,
      last_failure_at: null,
      success_ratio: null,
      attempts_in_window: 0,
      window: '1m',
    });
    assert.equal((await call('GET', '/destinations/default')).body.health, undefined);
    assert.equal((await call('GET', '/destinations/nope')).status, 404);
    assert.equal((await call('GET', '/destinations/Not%20A%20Slug')).status, 400);

    const taken = await call('POST', '/destinations', { id: 'billing', url: other.url('/x') });
    assert.equal(taken.status, 409);
    assert.equal(taken.body.code, 'CONFLICT');

    // `default` is listed where its id sorts, read-only
    const list = await call('GET', '/destinations');
    assert.deepEqual(
      list.body.map((d) => d.id),
      ['billing', 'default'],
    );
    const def = list.body[1];
    assert.equal(def?.builtin, true);
    assert.equal(def?.url, main.url('/original'));
    for (const [method, url, body] of [
      ['PATCH', '/destinations/default', { description: 'x' }],
      ['DELETE', '/destinations/default', undefined],
      ['POST', '/destinations/default/pause', undefined],
    ] as const) {
      const r = await call(method, url, body);
      assert.equal(r.status, 409, `${method} ${url}`);
      assert.match(String(r.body.error), /built-in/);
    }
    const paged = await call('GET', '/destinations?limit=1');
    assert.equal(paged.body.length, 1);
    assert.match(String(paged.headers.link), /after=billing/);
    assert.deepEqual(
      (await call('GET', '/destinations?topic=invoice.paid')).body.map((d) => d.id),
      ['billing'],
    );

    const changed = await call(
      'PATCH',
      '/destinations/billing',
      { description: 'ledger', timeout: null },
      { 'if-match': '"1"' },
    );
    assert.equal(changed.status, 200, JSON.stringify(changed.body));
    assert.equal(changed.body.description, 'ledger');
    assert.equal(changed.body.timeout, null);
    assert.equal(changed.headers.etag, '"2"');
    const stale = await call(
      'PATCH',
      '/destinations/billing',
      { description: 'lost update' },
      { 'if-match': '"1"' },
    );
    assert.equal(stale.status, 412);
    assert.equal(stale.body.code, 'PRECONDITION_FAILED');

    assert.equal((await call('POST', '/destinations/billing/pause')).body.status, 'paused');
    assert.equal((await call('POST', '/destinations/billing/pause')).body.status, 'paused');
    assert.equal((await call('POST', '/destinations/billing/resume')).body.status, 'active');
    assert.equal((await call('DELETE', '/destinations/billing')).status, 204);
    assert.equal((await call('DELETE', '/destinations/billing')).status, 404);
  });

  test('every problem of a bad destination is named by its path; a denied address literal is refused', async () => {
    const bad = await call('POST', '/destinations', {
      id: 'bad',
      url: 'https://user:pw@example.com/#frag',
      headers: { 'Webhook-Signature': 'forged', 'X-Ok': 'a\r\nInjected: yes' },
      secrets: [{ secret: 'not-a-secret' }],
      timeout: 'forever',
      retry: { max_attempts: 3, base_delay: '1m', max_delay: '1s' },
    });
    assert.equal(bad.status, 400);
    assert.equal(bad.body.code, 'BAD_REQUEST');
    const paths = (bad.body.details as unknown as { path: string }[]).map((d) => d.path);
    for (const p of [
      'body/url',
      'body/headers/Webhook-Signature',
      'body/headers/X-Ok',
      'body/secrets/0/secret',
      'body/timeout',
      'body/retry/max_delay',
    ]) {
      assert.ok(paths.includes(p), `${p} in ${paths.join(', ')}`);
    }
    assert.ok(!JSON.stringify(bad.body).includes('not-a-secret'), 'a refused secret is not echoed');
    assert.equal((await call('POST', '/destinations', { url: other.url('/'), extra: 1 })).status, 400);
    assert.equal((await call('POST', '/destinations', { url: other.url('/'), id: 'default' })).status, 400);

    for (const url of [
      'http://169.254.169.254/latest/meta-data/',
      'http://[::ffff:169.254.169.254]/',
      'http://[64:ff9b::a9fe:a9fe]/',
      'http://0xa9fea9fe/',
      'http://0.0.0.0:80/',
    ]) {
      const denied = await call('POST', '/destinations', { url });
      assert.equal(denied.status, 400, url);
      assert.equal(denied.body.code, 'URL_NOT_ALLOWED', url);
    }
    // a generated id
    const gen = await call('POST', '/destinations', { url: other.url('/gen') });
    assert.equal(gen.status, 201);
    assert.match(String(gen.body.id), /^dst_[0-9a-f]{16}$/);
    await call('DELETE', `/destinations/${String(gen.body.id)}`);
  });

  test('the scopes destinations:read and destinations:write guard the routes', async () => {
    // keys end anonymous loopback access for good: an app of its own
    const t = await testApp();
    const outer = app;
    app = t.app;
    try {
      const reader = await createApiKey(app.store.keys, 'reader', ['destinations:read']);
      const writer = await createApiKey(app.store.keys, 'writer', ['destinations:write']);
      await app.access.auth.keys.refresh();
      const as = (key: string) => ({ authorization: `Bearer ${key}` });
      assert.equal((await call('GET', '/destinations', undefined, as(reader.key))).status, 200);
      const refused = await call('POST', '/destinations', { url: other.url('/') }, as(reader.key));
      assert.equal(refused.status, 403);
      assert.equal(refused.body.code, 'INSUFFICIENT_SCOPE');
      assert.equal((await call('GET', '/destinations', undefined, as(writer.key))).status, 403);
      const made = await call(
        'POST',
        '/destinations',
        { id: 'scoped', url: other.url('/s') },
        as(writer.key),
      );
      assert.equal(made.status, 201);
      assert.equal((await call('DELETE', '/destinations/scoped', undefined, as(writer.key))).status, 204);
    } finally {
      app = outer;
      await t.cleanup();
    }
  });
});

describe('messages and their destinations', () => {
  test('a message goes to its destination with its headers, path and secrets; one without goes to default', async () => {
    await call('POST', '/destinations', {
      id: 'crm',
      url: other.url('/crm/hook?x=1'),
      headers: { 'X-Tenant': 'acme' },
      secrets: [{ secret: SECRET_A }, { secret: SECRET_B, expires_at: '2020-01-01T00:00:00Z' }],
    });
    const toCrm = await call('POST', '/messages', {
      content: 'to crm',
      recipient_phone_number: '+1',
      destination: 'crm',
    });
    assert.equal(toCrm.status, 201, JSON.stringify(toCrm.body));
    assert.equal(toCrm.body.destination, 'crm');
    const toDefault = await call('POST', '/messages', {
      content: 'to default',
      recipient_phone_number: '+2',
    });
    assert.equal(toDefault.body.destination, 'default');
    await waitFor(
      async () => (await app.store.get(String(toCrm.body.id)))?.status === 'sent',
      10_000,
      'crm message sent',
    );
    await waitFor(
      async () => (await app.store.get(String(toDefault.body.id)))?.status === 'sent',
      10_000,
      'default sent',
    );

    const atCrm = other.got.find((g) => g.body.includes('to crm'));
    assert.ok(atCrm);
    assert.equal(atCrm.path, '/crm/hook?x=1');
    assert.equal(atCrm.headers['x-tenant'], 'acme');
    assert.equal(atCrm.headers['content-type'], 'application/json');
    const sig = String(atCrm.headers['webhook-signature']);
    // one signature: the expired secret signs no more
    assert.equal(sig.split(' ').length, 1);
    assert.ok(
      verify(
        secretBytes(SECRET_A),
        {
          id: String(atCrm.headers['webhook-id']),
          timestamp: String(atCrm.headers['webhook-timestamp']),
          signature: sig,
        },
        atCrm.body,
      ),
    );
    assert.ok(main.got.some((g) => g.body.includes('to default') && g.path === '/original'));
    assert.ok(!main.got.some((g) => g.body.includes('to crm')));

    const detail = await call('GET', `/messages/${String(toCrm.body.id)}`);
    const attempts = detail.body.attempts_log as unknown as { destination: string; url: string }[];
    assert.deepEqual(
      attempts.map((a) => [a.destination, a.url]),
      [['crm', other.url('/crm/hook?x=1')]],
    );
    const dflt = await call('GET', `/messages/${String(toDefault.body.id)}`);
    assert.deepEqual(
      (dflt.body.attempts_log as unknown as { destination: string; url: string }[]).map((a) => [
        a.destination,
        a.url,
      ]),
      [['default', main.url('/original')]],
    );
    const listed = await call('GET', '/messages?destination=crm');
    assert.deepEqual(
      listed.body.map((m) => m.id),
      [toCrm.body.id],
    );
    const sentDefault = await call('GET', '/sent-messages?destination=default');
    assert.ok(sentDefault.body.some((m) => m.id === toDefault.body.id));
    assert.ok(!sentDefault.body.some((m) => m.id === toCrm.body.id));
  });

  test('a topic fans out to its subscribers in one group; an Idempotency-Key covers the group', async () => {
    for (const id of ['sub-a', 'sub-b', 'sub-off']) {
      await call('POST', '/destinations', { id, url: other.url(`/${id}`), topics: ['order.shipped'] });
    }
    await app.store.destinations.setDestinationStatus('sub-off', 'disabled', 'test', new Date());
    const key = { 'idempotency-key': 'fan-1' };
    const body = { content: 'shipped', recipient_phone_number: '+3', topic: 'order.shipped' };
    const first = await call('POST', '/messages', body, key);
    assert.equal(first.status, 201, JSON.stringify(first.body));
    const group = String(first.body.group_id);
    assert.match(group, /^grp_/);
    const members = first.body.messages as unknown as {
      id: string;
      destination: string;
      group_id: string;
      topic: string;
    }[];
    assert.deepEqual(
      members.map((m) => m.destination),
      ['sub-a', 'sub-b'],
    );
    assert.ok(members.every((m) => m.group_id === group && m.topic === 'order.shipped'));

    // a new subscriber since: the replay still answers what the first request stored
    await call('POST', '/destinations', { id: 'sub-c', url: other.url('/sub-c'), topics: ['order.shipped'] });
    const again = await call('POST', '/messages', body, key);
    assert.equal(again.status, 201);
    assert.equal(again.headers['idempotent-replayed'], 'true');
    assert.equal(again.body.group_id, group);
    assert.deepEqual(
      (again.body.messages as unknown as { id: string }[]).map((m) => m.id),
      members.map((m) => m.id),
    );
    const reused = await call('POST', '/messages', { ...body, content: 'other' }, key);
    assert.equal(reused.status, 422);
    assert.equal(reused.body.code, 'IDEMPOTENCY_KEY_REUSED');

    const listed = await call('GET', `/messages?group_id=${group}`);
    assert.deepEqual(listed.body.map((m) => m.id).sort(), members.map((m) => m.id).sort());
    await waitFor(
      async () =>
        (await Promise.all(members.map((m) => app.store.get(m.id)))).every((m) => m?.status === 'sent'),
      10_000,
      'the group delivered',
    );
    assert.ok(other.got.some((g) => g.path === '/sub-a') && other.got.some((g) => g.path === '/sub-b'));
    assert.ok(!other.got.some((g) => g.path === '/sub-off'));

    // a batch mixes all three kinds of rows, in request order
    const batch = await call('POST', '/messages/batch', {
      messages: [
        { content: 'b0', recipient_phone_number: '+4' },
        { content: 'b1', recipient_phone_number: '+4', topic: 'order.shipped' },
        { content: 'b2', recipient_phone_number: '+4', destination: 'sub-a' },
      ],
    });
    assert.equal(batch.status, 201, JSON.stringify(batch.body));
    assert.deepEqual(
      (batch.body.messages as unknown as { destination: string }[]).map((m) => m.destination),
      ['default', 'sub-a', 'sub-b', 'sub-c', 'sub-a'],
    );
  });

  test('an unknown destination or a topic without subscribers is a 422 naming it; both at once a 400', async () => {
    const unknown = await call('POST', '/messages', {
      content: 'x',
      recipient_phone_number: '+5',
      destination: 'ghost',
    });
    assert.equal(unknown.status, 422);
    assert.equal(unknown.body.code, 'UNKNOWN_DESTINATION');
    assert.match(String(unknown.body.error), /ghost/);
    const lonely = await call('POST', '/messages', {
      content: 'x',
      recipient_phone_number: '+5',
      topic: 'nobody.listens',
    });
    assert.equal(lonely.status, 422);
    assert.equal(lonely.body.code, 'NO_SUBSCRIBER');
    assert.match(String(lonely.body.error), /nobody\.listens/);
    const inBatch = await call('POST', '/messages/batch', {
      messages: [
        { content: 'ok', recipient_phone_number: '+5' },
        { content: 'x', recipient_phone_number: '+5', destination: 'ghost' },
      ],
    });
    assert.equal(inBatch.status, 422);
    assert.match(String(inBatch.body.error), /body\/messages\/1\/destination/);
    const both = await call('POST', '/messages', {
      content: 'x',
      recipient_phone_number: '+5',
      destination: 'default',
      topic: 'order.shipped',
    });
    assert.equal(both.status, 400);
    // nothing of the refused requests was stored
    assert.equal((await call('GET', '/messages?destination=ghost')).body.length, 0);
  });

  test('a paused destination’s messages wait and go on resume; a deleted one’s fail with the reason, not attempted', async () => {
    await call('POST', '/destinations', { id: 'held', url: other.url('/held') });
    await call('POST', '/destinations/held/pause');
    const m = await call('POST', '/messages', {
      content: 'wait',
      recipient_phone_number: '+6',
      destination: 'held',
    });
    const quick = await call('POST', '/messages', { content: 'go', recipient_phone_number: '+6' });
    await waitFor(
      async () => (await app.store.get(String(quick.body.id)))?.status === 'sent',
      10_000,
      'others go on',
    );
    assert.equal((await app.store.get(String(m.body.id)))?.status, 'unsent');
    assert.ok(!other.got.some((g) => g.path === '/held'));
    await call('POST', '/destinations/held/resume');
    await waitFor(
      async () => (await app.store.get(String(m.body.id)))?.status === 'sent',
      10_000,
      'sent after resume',
    );

    await call('POST', '/destinations', { id: 'doomed', url: other.url('/doomed') });
    await call('POST', '/destinations/doomed/pause');
    const orphan = await call('POST', '/messages', {
      content: 'orphan',
      recipient_phone_number: '+7',
      destination: 'doomed',
    });
    assert.equal((await call('DELETE', '/destinations/doomed')).status, 204);
    await waitFor(
      async () => (await app.store.get(String(orphan.body.id)))?.status === 'failed',
      10_000,
      'orphan failed',
    );
    const failed = await app.store.get(String(orphan.body.id));
    assert.match(failed?.last_error ?? '', /destination doomed was deleted/);
    assert.equal(failed?.attempts, 0);
    assert.ok(!other.got.some((g) => g.path === '/doomed'));
  });

  test('a redirect is not followed: the attempt fails with the 3xx', async () => {
    other.answer = (path) =>
      path === '/moved' ? { status: 302, headers: { location: other.url('/target') } } : { status: 200 };
    try {
      await call('POST', '/destinations', { id: 'moved', url: other.url('/moved') });
      const m = await call('POST', '/messages', {
        content: 'r',
        recipient_phone_number: '+8',
        destination: 'moved',
      });
      await waitFor(
        async () => (await app.store.get(String(m.body.id)))?.status === 'failed',
        10_000,
        'failed on 302',
      );
      const [a] = await app.store.attempts(String(m.body.id));
      assert.equal(a?.status_code, 302);
      assert.ok(!other.got.some((g) => g.path === '/target'));
    } finally {
      other.answer = () => ({ status: 200 });
    }
  });
});

describe('failure handling per destination', () => {
  test('a 429 slows the destination down and its Retry-After holds it; the 429 counts as an attempt', async () => {
    const made = await call('POST', '/destinations', {
      id: 'throttled',
      url: other.url('/throttled'),
      rate_limit: { limit: 20, period: '1s' },
      retry: { max_attempts: 5, base_delay: '10ms', max_delay: '5s' },
    });
    assert.equal(made.status, 201, JSON.stringify(made.body));
    const times: number[] = [];
    let first = true;
    other.answer = (path) => {
      if (!path.startsWith('/throttled')) return { status: 200 };
      times.push(Date.now());
      if (!first) return { status: 200 };
      first = false;
      return { status: 429, headers: { 'retry-after': '1' } };
    };
    try {
      const sent = await call('POST', '/messages/batch', {
        messages: Array.from({ length: 6 }, (_, i) => ({
          content: `slow ${i}`,
          recipient_phone_number: '+905551234567',
          destination: 'throttled',
        })),
      });
      assert.equal(sent.status, 201, JSON.stringify(sent.body));
      await waitFor(
        async () =>
          (await app.store.list({ order: 'created', status: 'sent', limit: 10, destination: 'throttled' }))
            .items.length === 6,
        15_000,
        'all sent',
      );
      // nothing went to it for the second Retry-After asked (the requests already out excepted)
      const cut = times[0] ?? 0;
      const soon = times.filter((t) => t > cut + 50 && t < cut + 950);
      assert.deepEqual(soon, [], `requests within the Retry-After: ${times.map((t) => t - cut).join(',')}`);
      const attempts = (
        await app.store.list({ order: 'created', status: 'sent', limit: 10, destination: 'throttled' })
      ).items.map((m) => m.attempts);
      assert.equal(
        attempts.reduce((a, b) => a + b, 0),
        7,
        'six messages, one of them answered 429 once',
      );
      const h = (await call('GET', '/destinations/throttled')).body.health as {
        slowed_down: boolean;
        effective_rate: number;
        success_ratio: number;
        attempts_in_window: number;
        last_failure_at: string | null;
      };
      assert.equal(h.slowed_down, true);
      assert.ok(h.effective_rate < 20 && h.effective_rate >= 10, JSON.stringify(h));
      assert.equal(h.attempts_in_window, 7);
      assert.equal(h.success_ratio, 6 / 7);
      assert.ok(h.last_failure_at);
    } finally {
      other.answer = () => ({ status: 200 });
    }
  });
});

describe('URL safety when connecting', () => {
  test('a name that resolves to a denied address is refused when connecting, and recorded', async () => {
    const r = await new Receiver().start();
    const t = await testApp({
      WEBHOOK_URL: r.url('/default'),
      POOL_INITIAL_JOB_FETCH: 'true',
      RETRY_MAX_ATTEMPTS: '1',
      DESTINATIONS_DENY_ADDRESSES: 'loopback link-local metadata',
      RATE_LIMITER_ENABLED: 'false',
    });
    t.app.pool.start();
    try {
      const inject = async (method: 'POST' | 'GET', url: string, body?: unknown) => {
        const res = await t.app.server.inject({
          method,
          url,
          ...(body === undefined
            ? {}
            : { payload: JSON.stringify(body), headers: { 'content-type': 'application/json' } }),
        });
        return { status: res.statusCode, body: res.json() as Record<string, unknown> };
      };
      const literal = await inject('POST', '/destinations', { url: r.url('/x') });
      assert.equal(literal.status, 400);
      assert.equal(literal.body.code, 'URL_NOT_ALLOWED');
      assert.match(String(literal.body.error), /127\.0\.0\.1.*loopback/);
      const named = await inject('POST', '/destinations', {
        id: 'sneaky',
        url: `http://localhost:${r.port}/x`,
      });
      assert.equal(named.status, 201);
      const m = await inject('POST', '/messages', {
        content: 's',
        recipient_phone_number: '+9',
        destination: 'sneaky',
      });
      await waitFor(
        async () => (await t.app.store.get(String(m.body.id)))?.status === 'failed',
        10_000,
        'refused',
      );
      const [a] = await t.app.store.attempts(String(m.body.id));
      assert.match(a?.error ?? '', /EADDRDENIED.*localhost.*denied/);
      assert.equal(r.got.length, 0, 'the receiver on a denied address got nothing');
      // the default destination is the operator's: the deny list does not apply to it
      const d = await inject('POST', '/messages', { content: 'd', recipient_phone_number: '+9' });
      await waitFor(
        async () => (await t.app.store.get(String(d.body.id)))?.status === 'sent',
        10_000,
        'default sent',
      );
    } finally {
      await t.cleanup();
      await r.close();
    }
  });
});

describe('destinations CLI', () => {
  test('add, list, show, pause, resume, remove on the store; bad input exits 2 naming the problem', async () => {
    const { mkdtempSync, rmSync } = await import('node:fs');
    const { tmpdir } = await import('node:os');
    const { join } = await import('node:path');
    const dir = mkdtempSync(join(tmpdir(), 'ms-dest-cli-'));
    // the config at an absolute path, as a container mounts it
    const env = {
      ...process.env,
      SQLITE_PATH: join(dir, 'm.db'),
      CONFIG_PATH: join(process.cwd(), '.config'),
      MONGODB_URI: '',
      DATABASE_URL: '',
      LOG_LEVEL: 'info',
    };
    const cli = (args: string[]) => runCli(['destinations', ...args], env);
    try {
      const added = await cli([
        'add',
        '--id',
        'erp',
        '--url',
        'https://erp.example/hooks',
        '--secret',
        SECRET_A,
        '--topic',
        'invoice.paid',
        '--header',
        'X-Tenant=acme',
        '--rate',
        '10/1s/20',
        '--retry',
        '5/1s/10m/24h',
        '--max-in-flight',
        '4',
      ]);
      assert.equal(added.code, 0, added.stderr);
      assert.match(
        added.stdout,
        /^erp {2}active {2}https:\/\/erp\.example\/hooks {2}topics invoice\.paid {2}rate 10\/1s/,
      );
      assert.ok(
        !added.stdout.includes(SECRET_A.slice(6, 30)) && !added.stderr.includes(SECRET_A.slice(6, 30)),
      );
      assert.match(added.stderr, /"actor":"cli/);
      const list = await cli(['list']);
      assert.deepEqual(
        list.stdout
          .trim()
          .split('\n')
          .map((l) => l.split('  ')[0]),
        ['default', 'erp'],
      );
      const shown = JSON.parse((await cli(['show', 'erp', '--json'])).stdout) as Record<string, unknown>;
      assert.deepEqual(shown.retry, { max_attempts: 5, base_delay: '1s', max_delay: '10m', max_age: '24h' });
      assert.deepEqual(shown.headers, { 'X-Tenant': 'acme' });
      // its health, as GET /destinations/{id} shows it (read from the store: no pool runs in the CLI)
      const health = shown.health as Record<string, unknown>;
      assert.equal(health.circuit, 'closed');
      assert.equal(health.in_flight, 0);
      assert.equal(health.due_backlog, 0);
      assert.equal(health.success_ratio, null);
      assert.equal(health.window, '1m');
      const text = (await cli(['show', 'erp'])).stdout;
      assert.match(text, /^erp {2}active/);
      assert.match(
        text,
        /\n {2}circuit closed {2}rate 10\/s {2}in flight 0 {2}due 0 {2}no attempts in 1m\n$/,
      );
      const builtin = JSON.parse((await cli(['show', 'default', '--json'])).stdout) as Record<
        string,
        unknown
      >;
      assert.equal(builtin.health, undefined, 'default has no breaker nor health of its own');
      assert.match((await cli(['pause', 'erp'])).stdout, /^erp {2}paused/);
      assert.match((await cli(['resume', 'erp'])).stdout, /^erp {2}active/);
      assert.equal((await cli(['remove', 'erp'])).code, 0);
      const gone = await cli(['show', 'erp']);
      assert.equal(gone.code, 1);
      assert.match(gone.stderr, /no destination erp/);
      const bad = await cli(['add', '--url', 'ftp://x', '--secret', 'nope']);
      assert.equal(bad.code, 2);
      assert.match(bad.stderr, /\/url: must be http:\/\/ or https:\/\//);
      assert.match(bad.stderr, /\/secrets\/0\/secret/);
      assert.ok(!bad.stderr.includes('nope'), 'a refused secret is not echoed');
      assert.equal((await cli(['add', '--url', 'http://169.254.169.254/'])).code, 2);
      assert.equal((await cli(['pause', 'default'])).code, 1);
      assert.equal((await cli(['frobnicate'])).code, 2);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
