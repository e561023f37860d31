/**
 * The dashboard's operations through the API, without a browser: /ui/ itself (files, policy, roles,
 * `ui.enabled`), GET /me, GET /overview, the message filters, the bulk retry and the secret rotation,
 * each with the errors a careful client meets; and the per-minute activity the nodes report.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { App } from '../src/app/app.js';
import { createApiKey } from '../src/auth/key-admin.js';
import { ACTIVITY_MINUTES, RecentActivity } from '../src/metrics/recent-activity.js';
import { clusterActivity } from '../src/dashboard/overview.js';
import type { NodeRecord } from '../src/store/control-store.js';
import type { OutcomeEvent } from '../src/worker/events.js';
import { testApp, waitFor } from './helpers/app.js';
import { Receiver } from './helpers/receiver.js';

let app: App;
let cleanup: () => Promise<void>;
let receiver: Receiver;
let admin = '';
let reader = '';

async function call(method: string, url: string, body?: unknown, key: string | null = admin) {
  const r = await app.server.inject({
    method: method as 'GET',
    url,
    ...(body === undefined ? {} : { payload: JSON.stringify(body) }),
    headers: {
      ...(key ? { authorization: `Bearer ${key}` } : {}),
      ...(method === 'GET' ? {} : { 'content-type': 'application/json' }),
    },
  });
  let json: unknown = null;
  try {
    json = r.json();
  } catch {
    json = null;
  }
  return { status: r.statusCode, body: json as Record<string, unknown>, headers: r.headers, text: r.body };
}

before(async () => {
  // messages to `+fail` fail for good at once
  receiver = await new Receiver((body) =>
    body.includes('+fail') ? { status: 500, body: 'no' } : { status: 200, body: '{"messageId":"ok"}' },
  ).start();
  ({ app, cleanup } = await testApp({
    WEBHOOK_URL: `http://127.0.0.1:${receiver.port}/hook`,
    POOL_INITIAL_JOB_FETCH: 'true',
    RATE_LIMITER_ENABLED: 'false',
    RETRY_MAX_ATTEMPTS: '1',
    POOL_HEARTBEAT_INTERVAL: '200ms',
  }));
  app.pool.start();
  ({ key: admin } = await createApiKey(app.store.keys, 'admin', [
    'messages:read',
    'messages:write',
    'pool:control',
    'destinations:read',
    'destinations:write',
    'admin',
  ]));
  ({ key: reader } = await createApiKey(app.store.keys, 'reader', ['messages:read']));
  await app.access.auth.keys.refresh();
});
after(async () => {
  await cleanup();
  await receiver.close();
});

describe('/ui/', () => {
  test('the page and its files, under a policy of their own; /ui redirects; no listing, no escape', async () => {
    const page = await call('GET', '/ui/', undefined, null);
    assert.equal(page.status, 200);
    assert.match(String(page.headers['content-type']), /text\/html/);
    const csp = String(page.headers['content-security-policy']);
    for (const d of [
      "default-src 'none'",
      "script-src 'self'",
      "style-src 'self'",
      "frame-ancestors 'none'",
    ]) {
      assert.ok(csp.includes(d), `${d} in ${csp}`);
    }
    assert.doesNotMatch(csp, /unsafe-inline|unsafe-eval/);
    assert.doesNotMatch(page.text, /<script>|style=/, 'no inline script or style in the page');
    const js = await call('GET', '/ui/app.js', undefined, null);
    assert.equal(js.status, 200);
    assert.match(String(js.headers['content-type']), /javascript/);
    assert.equal((await call('GET', '/ui/app.css', undefined, null)).status, 200);
    const bare = await call('GET', '/ui', undefined, null);
    assert.equal(bare.status, 301);
    assert.equal(bare.headers.location, 'ui/');
    assert.equal((await call('GET', '/ui/nope.js', undefined, null)).status, 404);
    for (const url of ['/ui/../package.json', '/ui/%2e%2e/%2e%2e/package.json', '/ui/.hidden']) {
      const r = await call('GET', url, undefined, null);
      assert.ok(r.status === 403 || r.status === 404, `${url}: ${r.status}`);
      assert.doesNotMatch(r.text, /"name": "message-scheduler"/);
    }
  });

  test('not served with ui.enabled false, nor by a worker node; served by an api node', async () => {
    const off = await testApp({ UI_ENABLED: 'false' });
    try {
      assert.equal((await off.app.server.inject('/ui/')).statusCode, 404);
    } finally {
      await off.cleanup();
    }
    const worker = await testApp({ NODE_ROLE: 'worker' });
    try {
      assert.equal((await worker.app.server.inject('/ui/')).statusCode, 404);
    } finally {
      await worker.cleanup();
    }
    const api = await testApp({ NODE_ROLE: 'api' });
    try {
      assert.equal((await api.app.server.inject('/ui/')).statusCode, 200);
    } finally {
      await api.cleanup();
    }
  });
});

describe('GET /me', () => {
  test('names the credential and its scopes; none without one; a bad one is 401', async () => {
    assert.deepEqual((await call('GET', '/me', undefined, reader)).body, {
      kind: 'api_key',
      name: 'reader',
      scopes: ['messages:read'],
    });
    const none = await call('GET', '/me', undefined, null);
    assert.equal(none.status, 200);
    assert.deepEqual(none.body, { kind: 'none', name: '', scopes: [] });
    const bad = await call('GET', '/me', undefined, 'ms_nope_nope');
    assert.equal(bad.status, 401);
    assert.equal(bad.body.code, 'UNAUTHORIZED');
  });
});

describe('GET /overview', () => {
  test('counts, activity and the pool; the pool only for pool:control; refused without messages:read', async () => {
    await call('POST', '/messages', { content: 'hi', recipient_phone_number: '+905551111111' });
    await call('POST', '/messages', { content: 'boom', recipient_phone_number: '+fail' });
    await waitFor(
      async () => {
        const o = (await call('GET', '/overview')).body as {
          activity: { delivered: number[]; failed: number[] };
        };
        const sum = (xs: number[]) => xs.reduce((a, b) => a + b, 0);
        return sum(o.activity.delivered) >= 1 && sum(o.activity.failed) >= 1;
      },
      15_000,
      'the heartbeat to carry the deliveries',
    );
    const o = (await call('GET', '/overview')).body as {
      counts: Record<string, number>;
      count_cap: number;
      activity: { minutes: number; delivered: number[]; nodes_reporting: number; lateness_p99_ms: unknown[] };
      pool: { status: string; nodes: unknown[] } | null;
    };
    assert.equal(o.counts.sent, 1);
    assert.equal(o.counts.failed, 1);
    assert.equal(o.count_cap, 10_000);
    assert.equal(o.activity.minutes, ACTIVITY_MINUTES);
    assert.equal(o.activity.delivered.length, ACTIVITY_MINUTES);
    assert.equal(o.activity.nodes_reporting, 1);
    assert.ok(o.activity.lateness_p99_ms.some((x) => typeof x === 'number'));
    assert.equal(o.pool?.status, 'running');
    assert.equal(o.pool?.nodes.length, 1);
    assert.equal(((await call('GET', '/overview', undefined, reader)).body as { pool: unknown }).pool, null);
    const { key: schedulesOnly } = await createApiKey(app.store.keys, 'sched', ['schedules:read']);
    await app.access.auth.keys.refresh();
    const refused = await call('GET', '/overview', undefined, schedulesOnly);
    assert.equal(refused.status, 403);
    assert.equal(refused.body.code, 'INSUFFICIENT_SCOPE');
  });
});

describe('message filters', () => {
  test('recipient, time range, idempotency key; bad ranges are 400 naming the parameter', async () => {
    const t0 = Date.now();
    await call(
      'POST',
      '/messages',
      { content: 'a', recipient_phone_number: '+4900', send_at: new Date(t0 + 86_400_000).toISOString() },
      admin,
    );
    const keyed = await app.server.inject({
      method: 'POST',
      url: '/messages',
      payload: JSON.stringify({
        content: 'b',
        recipient_phone_number: '+4901',
        send_at: new Date(t0 + 86_400_000).toISOString(),
      }),
      headers: {
        authorization: `Bearer ${admin}`,
        'content-type': 'application/json',
        'idempotency-key': 'find-me',
      },
    });
    const id = (keyed.json() as { id: string }).id;
    const byRecipient = (await call('GET', '/messages?recipient=%2B4900')).body as unknown as {
      content: string;
    }[];
    assert.deepEqual(
      byRecipient.map((m) => m.content),
      ['a'],
    );
    const byKey = (await call('GET', '/messages?idempotency_key=find-me')).body as unknown as {
      id: string;
    }[];
    assert.deepEqual(
      byKey.map((m) => m.id),
      [id],
    );
    assert.deepEqual((await call('GET', '/messages?idempotency_key=find-me&status=sent')).body, []);
    assert.deepEqual((await call('GET', '/messages?idempotency_key=nope')).body, []);
    const from = new Date(t0 - 1000).toISOString();
    const inRange = (await call('GET', `/messages?from=${from}&recipient=%2B4901`))
      .body as unknown as unknown[];
    assert.equal(inRange.length, 1);
    const before = (await call('GET', `/messages?to=${from}&recipient=%2B4901`)).body as unknown as unknown[];
    assert.equal(before.length, 0);
    for (const [url, param] of [
      [`/messages?status=unsent&from=${from}`, 'from'],
      [`/messages?from=${new Date(t0).toISOString()}&to=${from}`, 'from'],
      ['/messages?from=yesterday', 'from'],
      ['/messages?to=2026-12-31T23:59:60Z', 'to'],
    ] as const) {
      const r = await call('GET', url);
      assert.equal(r.status, 400, url);
      assert.equal(r.body.code, 'BAD_REQUEST');
      assert.match(JSON.stringify(r.body), new RegExp(param), url);
    }
  });
});

describe('POST /messages/bulk-retry', () => {
  test('counts, then retries what matches, at most max; each message once; refused without messages:write', async () => {
    for (let i = 0; i < 4; i++) {
      await call('POST', '/messages', {
        content: `bulk ${i}`,
        recipient_phone_number: '+fail',
        destination: 'default',
      });
    }
    await waitFor(
      async () =>
        ((await call('GET', '/messages?status=failed&recipient=%2Bfail')).body as unknown as unknown[])
          .length >= 5,
      15_000,
      'the failures',
    );
    const dry = await call('POST', '/messages/bulk-retry', {
      status: 'failed',
      recipient: '+fail',
      dry_run: true,
    });
    assert.equal(dry.status, 200, JSON.stringify(dry.body));
    assert.deepEqual(dry.body, { dry_run: true, matched: 5, retried: 0, more: false });
    assert.equal(
      ((await call('GET', '/messages?status=failed&recipient=%2Bfail')).body as unknown as unknown[]).length,
      5,
      'a dry run changes nothing',
    );
    const some = await call('POST', '/messages/bulk-retry', { recipient: '+fail', max: 2 });
    assert.deepEqual(some.body, { dry_run: false, matched: 2, retried: 2, more: true });
    const denied = await call('POST', '/messages/bulk-retry', { dry_run: true }, reader);
    assert.equal(denied.status, 403);
    for (const body of [
      { status: 'sent' },
      { max: 0 },
      { from: 'x' },
      { whatever: 1 },
      { from: '2026-12-06T00:00:00Z', to: '2026-12-05T00:00:00Z' },
    ]) {
      const r = await call('POST', '/messages/bulk-retry', body);
      assert.equal(r.status, 400, JSON.stringify(body));
      assert.equal(r.body.code, 'BAD_REQUEST');
    }
  });
});

describe('POST /destinations/{id}/rotate-secret', () => {
  test('a new secret shown once; the current one signs until the overlap ends; default and bad overlaps refused', async () => {
    const old = 'whsec_' + Buffer.from('x'.repeat(24)).toString('base64');
    const made = await call('POST', '/destinations', {
      id: 'crm',
      url: `http://127.0.0.1:${receiver.port}/crm`,
      secrets: [{ secret: old }],
    });
    assert.equal(made.status, 201, JSON.stringify(made.body));
    const t0 = Date.now();
    const r = await call('POST', '/destinations/crm/rotate-secret', { overlap: '1h' });
    assert.equal(r.status, 200, JSON.stringify(r.body));
    const secret = String(r.body.secret);
    assert.match(secret, /^whsec_[A-Za-z0-9+/]{32}$/);
    const secrets = (r.body.destination as { secrets: { secret: string; expires_at: string | null }[] })
      .secrets;
    assert.equal(secrets.length, 2);
    assert.equal(secrets[0]?.secret, `whsec_…${secret.slice(-4)}`, 'the new one, masked, signs without end');
    assert.equal(secrets[0]?.expires_at, null);
    const until = Date.parse(secrets[1]?.expires_at ?? '');
    assert.ok(Math.abs(until - (t0 + 3_600_000)) < 5000, 'the old one until the overlap ends');
    const stored = await app.store.destinations.getDestination('crm');
    assert.deepEqual(
      stored?.secrets.map((s) => s.secret),
      [secret, old],
    );
    assert.equal((await call('POST', '/destinations/default/rotate-secret', {})).status, 409);
    assert.equal((await call('POST', '/destinations/nope/rotate-secret', {})).status, 404);
    for (const overlap of ['soon', '1000d', '-1h']) {
      assert.equal((await call('POST', '/destinations/crm/rotate-secret', { overlap })).status, 400, overlap);
    }
  });
});

describe('the activity a node reports', () => {
  const event = (kind: 'sent' | 'failed' | 'retry', lateMs = 0, attempts = 0): OutcomeEvent =>
    ({
      message: { attempts, due_at: new Date(1_000_000) },
      outcome:
        kind === 'sent'
          ? { kind, sentAt: new Date(1_000_000 + lateMs), webhookResponseMessageId: null }
          : kind === 'retry'
            ? { kind, error: 'x', dueAt: new Date() }
            : { kind, error: 'x' },
      attempt: kind === 'retry' ? {} : null,
      applied: true,
    }) as unknown as OutcomeEvent;

  test('counts per minute, a p99 bound of first attempts only, minutes older than 30 dropped', () => {
    let now = 10 * 60_000;
    const a = new RecentActivity(() => now);
    for (let i = 0; i < 99; i++) a.record(event('sent', 10));
    a.record(event('sent', 5000));
    a.record(event('sent', 60_000, 2)); // a retry's back-off is not lateness
    a.record(event('failed'));
    a.record(event('retry'));
    a.record({ ...event('sent'), applied: false }); // another node's to count
    let s = a.snapshot();
    assert.equal(s.delivered.at(-1), 101);
    assert.equal(s.failed.at(-1), 1);
    assert.equal(s.retried.at(-1), 1);
    const p99 = s.lateness_p99_ms.at(-1) ?? 0;
    assert.ok(p99 >= 10 && p99 <= 13, `p99 of 99 × 10 ms and 1 × 5 s is the 10 ms bucket: ${p99}`);
    now += 31 * 60_000;
    s = a.snapshot();
    assert.equal(
      s.delivered.reduce((x, y) => x + y, 0),
      0,
      'older than 30 minutes: gone',
    );
  });

  test('the overview adds the nodes up, aligned on the minute, the worst lateness', () => {
    const now = 100 * 60_000 + 30_000;
    const row = (from: number, delivered: number[], late: (number | null)[]): NodeRecord =>
      ({
        activity: {
          from,
          delivered,
          failed: delivered.map(() => 0),
          retried: delivered.map(() => 0),
          lateness_p99_ms: late,
        },
      }) as NodeRecord;
    const c = clusterActivity(
      [
        row((100 - 29) * 60_000, [...Array(28).fill(0), 1, 2], [...Array(29).fill(null), 40]),
        // a heartbeat a minute older: its last minute is the cluster's second to last
        row((99 - 29) * 60_000, [...Array(29).fill(0), 5], [...Array(29).fill(null), 90]),
        { activity: null } as NodeRecord,
      ],
      now,
    );
    assert.equal(c.nodes_reporting, 2);
    assert.deepEqual(c.delivered.slice(-2), [6, 2]);
    assert.deepEqual(c.lateness_p99_ms.slice(-2), [90, 40]);
  });
});
