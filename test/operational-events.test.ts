import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, test } from 'node:test';
import type { App } from '../src/app/app.js';
import { loadConfig } from '../src/config/config.js';
import { ConfigError } from '../src/config/config-error.js';
import { eventContent, eventKey, OperationalEvents } from '../src/events/operational-events.js';
import { silentLogger } from '../src/logging/logger.js';
import { testApp, waitFor } from './helpers/app.js';

/** The receiver (the one fake): `/ops` records the events, `/flaky` answers as `flaky` says. */
let flaky = 500;
const events: Array<{ type: string; at: string; message?: string; destination?: string }> = [];
const webhookIds: string[] = [];
const server: Server = createServer((req, res) => {
  let body = '';
  req.setEncoding('utf8');
  req.on('data', (c: string) => (body += c));
  req.on('end', () => {
    if (req.url?.startsWith('/ops')) {
      webhookIds.push(String(req.headers['webhook-id']));
      events.push(JSON.parse((JSON.parse(body) as { content: string }).content) as (typeof events)[number]);
      res.writeHead(200).end('{}');
      return;
    }
    res.writeHead(req.url?.startsWith('/flaky') ? flaky : 200).end('{}');
  });
});
let url = '';
let app: App;
let cleanup: () => Promise<void>;

async function call(method: 'GET' | 'POST', path: string, body?: unknown) {
  const r = await app.server.inject({
    method,
    url: path,
    ...(body === undefined ? {} : { payload: JSON.stringify(body) }),
    headers: method === 'POST' ? { 'content-type': 'application/json' } : {},
  });
  return { status: r.statusCode, body: r.json() as Record<string, unknown> };
}

before(async () => {
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  ({ app, cleanup } = await testApp({
    WEBHOOK_URL: `${url}/original`,
    POOL_INITIAL_JOB_FETCH: 'true',
    RATE_LIMITER_ENABLED: 'false',
    EVENTS_DESTINATION: 'ops',
    DESTINATIONS_BREAKER_CONSECUTIVE_FAILURES: '3',
    DESTINATIONS_BREAKER_OPEN_FOR: '300ms',
  }));
  app.pool.start();
});
after(async () => {
  await cleanup();
  server.closeAllConnections();
  await new Promise<void>((r) => server.close(() => r()));
});

test('a failed message, the circuit opening and closing each send one event to the events destination, and its own failures none', async () => {
  assert.equal((await call('POST', '/destinations', { id: 'ops', url: `${url}/ops` })).status, 201);
  const made = await call('POST', '/destinations', {
    id: 'flaky',
    url: `${url}/flaky`,
    retry: { max_attempts: 1, base_delay: '10ms', max_delay: '10ms' },
  });
  assert.equal(made.status, 201, JSON.stringify(made.body));
  const send = async (n: number) => {
    const r = await call('POST', '/messages/batch', {
      messages: Array.from({ length: n }, (_, i) => ({
        content: `m ${i}`,
        recipient_phone_number: '+905551234567',
        destination: 'flaky',
      })),
    });
    assert.equal(r.status, 201, JSON.stringify(r.body));
    return (r.body as unknown as { messages: Array<{ id: string }> }).messages ?? [];
  };
  await send(3);
  await waitFor(
    () =>
      events.filter((e) => e.type === 'message.failed').length === 3 &&
      events.some((e) => e.type === 'destination.circuit_opened'),
    10_000,
    'three failures and the opening told',
  );
  flaky = 200;
  await send(1);
  await waitFor(
    () => events.some((e) => e.type === 'destination.circuit_closed'),
    10_000,
    'the closing told',
  );
  // nothing more comes: one event per occurrence
  await new Promise((r) => setTimeout(r, 300));
  const types = events.map((e) => e.type).sort();
  assert.deepEqual(types, [
    'destination.circuit_closed',
    'destination.circuit_opened',
    'message.failed',
    'message.failed',
    'message.failed',
  ]);
  for (const e of events) {
    assert.ok(!Number.isNaN(Date.parse(e.at)), JSON.stringify(e));
    if (e.type.startsWith('destination.')) assert.equal(e.destination, 'flaky');
    else assert.match(e.message ?? '', /^[0-9a-f]{24}$/);
  }
  assert.equal(new Set(webhookIds).size, webhookIds.length, 'each event delivered once');
  // the events are messages of `ops`: listed there, keyed by their occurrence
  const stored = await app.store.list({ order: 'created', limit: 10, destination: 'ops' });
  assert.equal(stored.items.length, 5);
  assert.ok(stored.items.every((m) => m.idempotency_key?.startsWith('event:')));

  // a failure of the events destination itself raises no event (no loop)
  events.length = 0;
  flaky = 500;
  const ops = new OperationalEvents({
    target: { destination: 'ops' },
    store: app.store,
    destinations: () => app.destinations.all(),
    logger: silentLogger(),
  });
  const claimed = {
    id: 'ffffffffffffffffffffffff',
    webhook_id: 'w',
    content: 'x',
    recipient_phone_number: '',
    attempts: 1,
    priority: 0,
    created_at: new Date(),
    lease_expires_at: null,
    trace_context: null,
    destination_id: 'ops',
  } as unknown as Parameters<OperationalEvents['outcome']>[0]['message'];
  assert.equal(ops.isEventMessage(claimed), true);
  assert.equal(ops.isEventMessage({ destination_id: 'flaky' }), false);
  assert.equal(ops.isEventMessage({ destination_id: null }), false);
});

test('an occurrence is stored once however often it is raised; an unknown outcome is told too', async () => {
  const ops = new OperationalEvents({
    target: { destination: 'ops' },
    store: app.store,
    destinations: () => app.destinations.all(),
    logger: silentLogger(),
  });
  const at = new Date('2027-03-01T10:00:00.000Z');
  const e = {
    type: 'destination.disabled' as const,
    about: { destination: 'flaky' },
    at,
    occurrence: at.toISOString(),
  };
  assert.equal(eventKey(e), 'event:destination.disabled:flaky:2027-03-01T10:00:00.000Z');
  assert.equal(
    eventContent(e),
    '{"type":"destination.disabled","destination":"flaky","at":"2027-03-01T10:00:00.000Z"}',
  );
  const [a, b] = await Promise.all([ops.store(e), ops.store(e)]);
  assert.equal(a + b, 1);
  assert.equal(await ops.store(e), 0);
  // the longest ids still fit a message's 160 characters
  const long = { type: 'destination.circuit_opened' as const, about: { destination: 'd'.repeat(64) }, at };
  assert.ok(eventContent(long).length <= 160, String(eventContent(long).length));
});

test('events go to one destination or to a topic, never both; the destination must be one made over the API', () => {
  const base = { CONFIG_PATH: '.config', CONFIG_ENV: 'dev', SQLITE_PATH: '/tmp/x.db' };
  assert.deepEqual(loadConfig({ ...base, EVENTS_TOPIC: 'ops.events' }, process.cwd()).events, {
    topic: 'ops.events',
  });
  assert.equal(loadConfig(base, process.cwd()).events, null);
  for (const [env, expected] of [
    [
      { EVENTS_DESTINATION: 'default' },
      /events\.destination .* = "default" is invalid: expected the id of a destination/,
    ],
    [{ EVENTS_DESTINATION: 'Not A Slug' }, /events\.destination .* is invalid/],
    [{ EVENTS_TOPIC: 'bad topic' }, /events\.topic .* is invalid/],
    [{ EVENTS_TOPIC: 'a', EVENTS_DESTINATION: 'b' }, /are both set: expected at most one/],
  ] as const) {
    assert.throws(
      () => loadConfig({ ...base, ...env }, process.cwd()),
      (err: unknown) => err instanceof ConfigError && expected.test(err.message),
    );
  }
});
