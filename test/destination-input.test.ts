/**
 * A destination as the API and the CLI take it, checked into its stored spec (src/destinations/
 * spec-input.ts): every problem named by its path, all at once; and shown back with durations as
 * the config writes them and secrets masked.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { destinationView, specFromInput, type DestinationInput } from '../src/destinations/spec-input.js';
import type { Destination } from '../src/domain/destination.js';

const SECRET = 'whsec_' + Buffer.from('a-secret-of-thirty-two-bytes!!!!').toString('base64');

const paths = (input: DestinationInput, mode: 'create' | 'patch' = 'create'): string[] =>
  specFromInput(input, mode).problems.map((p) => p.path);

test('a full destination becomes its spec: durations in ms, defaults for what is left out', () => {
  const { id, spec, problems } = specFromInput(
    {
      id: 'billing_eu-1',
      url: 'https://receiver.example/hooks?v=2',
      headers: { 'X-Tenant': 'acme', Authorization: 'Bearer t0ken' },
      secrets: [{ secret: SECRET, expires_at: '2027-01-31T00:00:00Z' }, { secret: SECRET }],
      timeout: '2s',
      rate_limit: { limit: 10, period: '1s' },
      max_in_flight: 4,
      retry: { max_attempts: 5, base_delay: '500ms', max_delay: '1m', max_age: '24h' },
      topics: ['invoice.paid', 'invoice.paid', 'order:created'],
      metadata: { team: 'billing' },
    },
    'create',
  );
  assert.deepEqual(problems, []);
  assert.equal(id, 'billing_eu-1');
  assert.equal(spec.timeout_ms, 2000);
  assert.deepEqual(
    spec.rate_limit,
    { limit: 10, period_ms: 1000, burst: 10 },
    'the burst defaults to the limit',
  );
  assert.deepEqual(spec.retry, {
    max_attempts: 5,
    base_delay_ms: 500,
    max_delay_ms: 60_000,
    max_age_ms: 86_400_000,
  });
  assert.deepEqual(spec.topics, ['invoice.paid', 'order:created'], 'topics once each');
  assert.equal(spec.secrets?.[0]?.expires_at?.toISOString(), '2027-01-31T00:00:00.000Z');
  assert.equal(spec.secrets?.[1]?.expires_at, null);
  const minimal = specFromInput({ url: 'http://127.0.0.1:4000/hook' }, 'create');
  assert.deepEqual(minimal.problems, []);
  assert.deepEqual(minimal.spec, {
    url: 'http://127.0.0.1:4000/hook',
    description: '',
    headers: {},
    secrets: [],
    timeout_ms: null,
    rate_limit: null,
    max_in_flight: null,
    retry: null,
    topics: [],
    metadata: {},
  });
});

test('every problem is named by its path, all at once', () => {
  assert.deepEqual(paths({}), ['/url'], 'a url is required to create');
  assert.deepEqual(
    paths({
      id: 'Billing!',
      url: 'ftp://x.example/',
      headers: {
        'webhook-signature': 'x',
        'Content-Type': 'text/plain',
        Host: 'evil',
        'bad name': 'v',
        'x-ok': 'a\r\nb: c',
      },
      secrets: [{ secret: 'plain-secret' }, { secret: SECRET, expires_at: 'tomorrow' }],
      timeout: '10 minutes',
      rate_limit: { limit: 0, period: '0s', burst: 1.5 },
      max_in_flight: 0,
      retry: { max_attempts: 0, base_delay: '1m', max_delay: '1s' },
      topics: ['.hidden', 'ok'],
      metadata: { '': 'x', note: 'a\u0000b' },
    }),
    [
      '/id',
      '/url',
      '/headers/webhook-signature',
      '/headers/Content-Type',
      '/headers/Host',
      '/headers/bad name',
      '/headers/x-ok',
      '/secrets/0/secret',
      '/secrets/1/expires_at',
      '/timeout',
      '/rate_limit/limit',
      '/rate_limit/burst',
      '/rate_limit/period',
      '/max_in_flight',
      '/retry/max_attempts',
      '/retry/max_delay',
      '/topics/0',
      '/metadata/',
      '/metadata/note',
    ],
  );
  assert.deepEqual(
    paths({ id: 'default', url: 'https://x.example/' }),
    ['/id'],
    'default is the built-in one',
  );
  assert.deepEqual(paths({ url: 'https://user:pw@x.example/' }), ['/url'], 'no credentials in the URL');
  assert.deepEqual(paths({ url: 'https://x.example/', timeout: '6m' }), ['/timeout'], 'at most 5 minutes');
  const secretProblem = specFromInput(
    { url: 'https://x.example/', secrets: [{ secret: 'whsec_not base64!' }] },
    'create',
  );
  assert.ok(!JSON.stringify(secretProblem.problems).includes('not base64'), 'a secret is never echoed');
});

test('a patch checks and returns only the fields given; the id cannot change', () => {
  const p = specFromInput({ description: 'new', rate_limit: null }, 'patch');
  assert.deepEqual(p.problems, []);
  assert.deepEqual(p.spec, { description: 'new', rate_limit: null });
  assert.deepEqual(paths({ id: 'other' }, 'patch'), ['/id']);
  assert.deepEqual(paths({}, 'patch'), [], 'an empty patch changes nothing');
});

test('shown back: durations as the config writes them, times in RFC 3339, secrets masked', () => {
  const d: Destination = {
    id: 'billing',
    url: 'https://receiver.example/hooks',
    description: '',
    headers: {},
    secrets: [{ secret: SECRET, expires_at: new Date('2027-01-31T00:00:00Z') }],
    timeout_ms: 2000,
    rate_limit: { limit: 10, period_ms: 60_000, burst: 20 },
    max_in_flight: null,
    retry: { max_attempts: 5, base_delay_ms: 500, max_delay_ms: 3_600_000, max_age_ms: null },
    topics: [],
    metadata: {},
    status: 'active',
    disabled_reason: null,
    disabled_at: null,
    created_at: new Date('2026-12-05T10:00:00Z'),
    updated_at: new Date('2026-12-05T10:00:00Z'),
    version: 1,
  };
  const v = destinationView(d);
  assert.equal(v.timeout, '2s');
  assert.deepEqual(v.rate_limit, { limit: 10, period: '1m', burst: 20 });
  assert.deepEqual(v.retry, { max_attempts: 5, base_delay: '500ms', max_delay: '1h', max_age: null });
  assert.deepEqual(v.secrets, [
    { secret: `whsec_…${SECRET.slice(-4)}`, expires_at: '2027-01-31T00:00:00.000Z' },
  ]);
  assert.ok(!JSON.stringify(v).includes(SECRET), 'the secret is not shown');
  assert.equal(v.created_at, '2026-12-05T10:00:00.000Z');
  // what the view writes, the input takes back (round trip of every duration)
  const back = specFromInput(
    { url: d.url, timeout: v.timeout as string, rate_limit: v.rate_limit as DestinationInput['rate_limit'] },
    'patch',
  );
  assert.deepEqual(back.problems, []);
  assert.deepEqual(back.spec.rate_limit, d.rate_limit);
});
