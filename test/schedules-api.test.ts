/**
 * Schedules through the API and the CLI, on a running node: the resource and its errors, the
 * scopes, and occurrences delivered to a receiver on time.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { App } from '../src/app/app.js';
import { createApiKey } from '../src/auth/key-admin.js';
import { testApp, waitFor } from './helpers/app.js';
import { runCli } from './helpers/cli.js';
import { Receiver } from './helpers/receiver.js';

let app: App;
let cleanup: () => Promise<void>;
let receiver: Receiver;

async function call(method: string, url: string, body?: unknown, headers: Record<string, string> = {}) {
  const r = await app.server.inject({
    method: method as 'GET',
    url,
    ...(body === undefined ? {} : { payload: JSON.stringify(body) }),
    headers: { ...(method === 'GET' ? {} : { 'content-type': 'application/json' }), ...headers },
  });
  return {
    status: r.statusCode,
    body: (r.body ? r.json() : null) as Record<string, unknown> & Record<string, unknown>[],
    headers: r.headers,
  };
}

const message = { content: 'Your digest', recipient_phone_number: '+4915112345678' };

before(async () => {
  receiver = await new Receiver().start();
  ({ app, cleanup } = await testApp({
    WEBHOOK_URL: `http://127.0.0.1:${receiver.port}/hook`,
    POOL_INITIAL_JOB_FETCH: 'true',
    RATE_LIMITER_ENABLED: 'false',
    SCHEDULES_INTERVAL: '200ms',
    SCHEDULES_LOOKAHEAD: '2s',
  }));
  app.pool.start();
});
after(async () => {
  await cleanup();
  await receiver.close();
});

describe('the schedule resource', () => {
  test('create, read with the next 10 occurrences in UTC and local time, list by cursor, change with If-Match, delete', async () => {
    const made = await call('POST', '/schedules', {
      id: 'digest',
      cron: '0 9 * * MON-FRI',
      timezone: 'Europe/Berlin',
      missed: 'once',
      description: 'the morning digest',
      message: { ...message, priority: 2 },
    });
    assert.equal(made.status, 201, JSON.stringify(made.body));
    assert.equal(made.headers.etag, '"1"');
    assert.equal(made.body.status, 'active');
    assert.equal(made.body.every, null);
    assert.deepEqual(made.body.message, { ...message, priority: 2, destination: 'default', topic: null });
    const got = await call('GET', '/schedules/digest');
    assert.equal(got.status, 200);
    const upcoming = got.body.upcoming as { at: string; local: string }[];
    assert.equal(upcoming.length, 10);
    assert.equal(upcoming[0]?.at, made.body.next_run_at);
    for (const u of upcoming) assert.match(u.local, /T09:00:00\+0[12]:00$/);
    for (const u of upcoming) assert.ok([1, 2, 3, 4, 5].includes(new Date(u.at).getUTCDay()), u.at);

    for (let i = 0; i < 4; i++) {
      assert.equal((await call('POST', '/schedules', { id: `p${i}`, every: '1h', message })).status, 201);
    }
    const first = await call('GET', '/schedules?limit=2');
    assert.deepEqual(
      first.body.map((s) => s.id),
      ['digest', 'p0'],
    );
    assert.equal(first.headers.link, '</schedules?limit=2&after=p0>; rel="next"');
    const second = await call('GET', '/schedules?limit=2&after=p0');
    assert.deepEqual(
      second.body.map((s) => s.id),
      ['p1', 'p2'],
    );
    assert.equal((await call('GET', '/schedules?status=paused')).body.length, 0);

    const changed = await call('PATCH', '/schedules/digest', { cron: '30 8 * * *' }, { 'if-match': '"1"' });
    assert.equal(changed.status, 200, JSON.stringify(changed.body));
    assert.equal(changed.body.version, 2);
    assert.match(String(changed.body.next_run_at), /T0[67]:30:00\.000Z$/);
    const stale = await call('PATCH', '/schedules/digest', { description: 'x' }, { 'if-match': '"1"' });
    assert.equal(stale.status, 412);
    assert.equal(stale.body.code, 'PRECONDITION_FAILED');
    const toEvery = await call('PATCH', '/schedules/digest', { every: '15m', message: { content: 'new' } });
    assert.equal(toEvery.body.cron, null);
    assert.equal(toEvery.body.every, '15m');
    assert.equal((toEvery.body.message as { content: string }).content, 'new');
    assert.equal((toEvery.body.message as { priority: number }).priority, 2);

    assert.equal((await call('DELETE', '/schedules/p3')).status, 204);
    assert.equal((await call('DELETE', '/schedules/p3')).status, 404);
    assert.equal((await call('GET', '/schedules/p3')).status, 404);
  });

  test('bad input is a 400 naming each problem, never a 500', async () => {
    const cases: [unknown, RegExp][] = [
      [{ message }, /cron \(a pattern\) or every/],
      [{ cron: '0 9 * * *', every: '1m', message }, /not both/],
      [{ cron: '1 2 3', message }, /3 fields/],
      [{ cron: '* * * * * * *', message }, /7 fields/],
      [{ cron: '61 * * * *', message }, /not a cron pattern/],
      [{ cron: '0 0 30 2 *', message }, /never runs/],
      [{ cron: '0 9 * * *', timezone: 'Mars/Olympus', message }, /IANA/],
      [{ every: '0s', message }, /out of range/],
      [{ every: 'soon', message }, /not a duration/],
      [
        { every: '1m', start_at: '2027-01-02T00:00:00Z', end_at: '2027-01-01T00:00:00Z', message },
        /not after start_at/,
      ],
      [{ every: '1m', end_at: '2020-01-01T00:00:00Z', message }, /in the past/],
      [{ every: '1m', start_at: 'tomorrow', message }, /RFC 3339/],
      [{ every: '1m', message: { ...message, destination: 'a', topic: 'b' } }, /not both/],
      [{ every: '1m', message: { ...message, content: '' } }, /content/],
      [{ every: '1m', message: { content: 'x', recipient_phone_number: '   ' } }, /recipient_phone_number/],
      [{ every: '1m', message, limit: 0 }, /limit/],
      [{ every: '1m', message, missed: 'sometimes' }, /missed/],
      [{ every: '1m', message, surprise: true }, /surprise|additional/],
      [{ every: '1m' }, /message/],
      [{ id: 'Not A Slug', every: '1m', message }, /id/],
    ];
    for (const [body, expect] of cases) {
      const r = await call('POST', '/schedules', body);
      assert.equal(r.status, 400, `${JSON.stringify(body)} → ${r.status} ${JSON.stringify(r.body)}`);
      assert.equal(r.body.code, 'BAD_REQUEST');
      assert.match(String(r.body.error) + JSON.stringify(r.body.details ?? ''), expect, JSON.stringify(body));
    }
    const unknown = await call('POST', '/schedules', {
      every: '1m',
      message: { ...message, destination: 'nope' },
    });
    assert.equal(unknown.status, 422);
    assert.equal(unknown.body.code, 'UNKNOWN_DESTINATION');
    await call('POST', '/schedules', { id: 'taken', every: '1m', message });
    assert.equal((await call('POST', '/schedules', { id: 'taken', every: '1m', message })).status, 409);
    assert.equal((await call('PATCH', '/schedules/taken', { cron: 'nope' })).status, 400);
    assert.equal((await call('PATCH', '/schedules/taken', {})).status, 400);
    assert.equal((await call('PATCH', '/schedules/ghost', { every: '1m' })).status, 404);
    // the schedules' idempotency keys are not a client's
    const reserved = await call('POST', '/messages', message, {
      'idempotency-key': 'schedule:taken:2027-01-01T00:00:00.000Z',
    });
    assert.equal(reserved.status, 400);
    assert.match(String(reserved.body.error), /kept for schedules/);
  });

  test('the scopes schedules:read and schedules:write guard the routes', async () => {
    // keys end anonymous loopback access for good: an app of its own
    const t = await testApp();
    const outer = app;
    app = t.app;
    try {
      const reader = await createApiKey(app.store.keys, 'sched-reader', ['schedules:read']);
      const writer = await createApiKey(app.store.keys, 'sched-writer', ['schedules:write']);
      await app.access.auth.keys.refresh();
      const as = (key: string) => ({ authorization: `Bearer ${key}` });
      assert.equal((await call('GET', '/schedules', undefined, as(reader.key))).status, 200);
      const refused = await call('POST', '/schedules', { every: '1m', message }, as(reader.key));
      assert.equal(refused.status, 403);
      assert.equal(refused.body.code, 'INSUFFICIENT_SCOPE');
      assert.equal(
        (await call('POST', '/schedules', { id: 'k', every: '1m', message }, as(writer.key))).status,
        201,
      );
      assert.equal((await call('POST', '/schedules/k/trigger', undefined, as(writer.key))).status, 201);
      assert.equal((await call('GET', '/schedules', undefined, as(writer.key))).status, 403);
      assert.equal((await call('GET', '/schedules')).status, 401);
    } finally {
      app = outer;
      await t.cleanup();
    }
  });

  test('occurrences are delivered on time, each once; pause stops them, trigger sends one now', async () => {
    const start = new Date(Math.ceil((Date.now() + 1500) / 1000) * 1000);
    const made = await call('POST', '/schedules', {
      id: 'every-second',
      every: '1s',
      start_at: start.toISOString(),
      limit: 4,
      message: { ...message, content: 'tick' },
    });
    assert.equal(made.status, 201, JSON.stringify(made.body));
    const ticks = () => receiver.got.filter((g) => g.body.content === 'tick');
    await waitFor(() => ticks().length >= 4, 15_000, 'four ticks');
    await new Promise((r) => setTimeout(r, 1500));
    assert.equal(ticks().length, 4, 'exactly the limit');
    // each arrived at its occurrence, not before; late by a bound a busy machine meets
    const late = ticks().map((g, i) => g.at - (start.getTime() + i * 1000));
    for (const ms of late) assert.ok(ms >= -5 && ms < 1000, `lateness ${late.join(', ')} ms`);
    const ended = await call('GET', '/schedules/every-second');
    assert.equal(ended.body.status, 'ended');
    assert.equal(ended.body.run_count, 4);
    assert.deepEqual(ended.body.upcoming, []);
    assert.equal((await call('POST', '/schedules/every-second/pause')).status, 409);

    await call('POST', '/schedules', { id: 'held', every: '1s', message: { ...message, content: 'held' } });
    const paused = await call('POST', '/schedules/held/pause');
    assert.equal(paused.body.status, 'paused');
    const trig = await call('POST', '/schedules/held/trigger', undefined, { 'idempotency-key': 'once' });
    assert.equal(trig.status, 201, JSON.stringify(trig.body));
    const again = await call('POST', '/schedules/held/trigger', undefined, { 'idempotency-key': 'once' });
    assert.equal(again.headers['idempotent-replayed'], 'true');
    assert.equal(
      (again.body.messages as { id: string }[])[0]?.id,
      (trig.body.messages as { id: string }[])[0]?.id,
    );
    await waitFor(() => receiver.got.some((g) => g.body.content === 'held'), 10_000, 'the triggered message');
    await new Promise((r) => setTimeout(r, 2500));
    assert.equal(receiver.got.filter((g) => g.body.content === 'held').length, 1, 'paused: only the trigger');
    const resumed = await call('POST', '/schedules/held/resume');
    assert.equal(resumed.body.status, 'active');
    await waitFor(() => receiver.got.filter((g) => g.body.content === 'held').length >= 2, 10_000, 'resumed');
  });
});

describe('the schedules CLI', () => {
  test('add, list, show (next runs, UTC and local), pause, resume, trigger, remove; bad input exits 2', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'ms-cli-sched-'));
    const env = {
      ...process.env,
      SQLITE_PATH: join(dir, 'm.db'),
      CONFIG_PATH: join(process.cwd(), '.config'),
      MONGODB_URI: '',
      DATABASE_URL: '',
      LOG_LEVEL: 'info',
    };
    const cli = (args: string[]) => runCli(['schedules', ...args], env);
    try {
      const added = await cli([
        'add',
        '--id',
        'report',
        '--cron',
        '0 8 1 * *',
        '--timezone',
        'America/New_York',
        '--content',
        'Monthly report',
        '--phone',
        '+15550100',
      ]);
      assert.equal(added.code, 0, added.stderr);
      assert.match(
        added.stdout,
        /^report {2}active {2}cron '0 8 1 \* \*' America\/New_York {2}to default {2}next /,
      );
      const shown = await cli(['show', 'report']);
      assert.equal(shown.code, 0, shown.stderr);
      const lines = shown.stdout.trim().split('\n');
      assert.equal(lines.length, 11);
      for (const l of lines.slice(1)) assert.match(l, /Z {2}\d{4}-\d\d-01T08:00:00-0[45]:00$/);
      const json = JSON.parse((await cli(['show', 'report', '--json'])).stdout) as { upcoming: unknown[] };
      assert.equal(json.upcoming.length, 10);
      assert.match((await cli(['pause', 'report'])).stdout, /report {2}paused/);
      assert.match((await cli(['list', '--status', 'paused'])).stdout, /^report {2}paused/);
      assert.match((await cli(['resume', 'report'])).stdout, /report {2}active/);
      assert.match(
        (await cli(['trigger', 'report'])).stdout,
        /^triggered report: message [0-9a-f]{24} to default/,
      );
      const bad = await cli(['add', '--cron', '1 2 3', '--content', 'x', '--phone', '1']);
      assert.equal(bad.code, 2);
      assert.match(bad.stderr, /3 fields/);
      assert.equal((await cli(['show', 'ghost'])).code, 1);
      assert.equal((await cli(['remove', 'report'])).stdout.trim(), 'removed report');
      assert.equal((await cli(['list'])).stdout.trim(), '');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('a stopped cluster', () => {
  test('occurrences missed while every node was down: skip makes none, once one, all each (up to the cap); metrics count them', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'ms-sched-down-'));
    const env = {
      SQLITE_PATH: join(dir, 'm.db'),
      WEBHOOK_URL: `http://127.0.0.1:${receiver.port}/down`,
      POOL_INITIAL_JOB_FETCH: 'true',
      RATE_LIMITER_ENABLED: 'false',
      SCHEDULES_INTERVAL: '100ms',
      SCHEDULES_LOOKAHEAD: '300ms',
      SCHEDULES_MISSED_AFTER: '1s',
      SCHEDULES_CATCH_UP_MAX: '2',
    };
    const down = (content: string) => receiver.got.filter((g) => g.body.content === content).length;
    let node = await testApp(env);
    try {
      node.app.pool.start();
      const start = new Date(Math.ceil((Date.now() + 1000) / 1000) * 1000).toISOString();
      for (const missed of ['skip', 'once', 'all'] as const) {
        const r = await node.app.server.inject({
          method: 'POST',
          url: '/schedules',
          headers: { 'content-type': 'application/json' },
          payload: JSON.stringify({
            id: missed,
            every: '1s',
            start_at: start,
            missed,
            message: { ...message, content: `down-${missed}` },
          }),
        });
        assert.equal(r.statusCode, 201, r.body);
      }
      await waitFor(
        () => ['skip', 'once', 'all'].every((m) => down(`down-${m}`) >= 1),
        10_000,
        'a first run each',
      );
      await node.cleanup();
      // the whole cluster is down for 5 s: the occurrences older than 1 s then are missed
      await new Promise((r) => setTimeout(r, 5000));
      const before = { skip: down('down-skip'), once: down('down-once'), all: down('down-all') };
      const restarted = Date.now();
      node = await testApp(env);
      node.app.pool.start();
      // what each has made, and how many occurrences it is past (its first at `start`, one a second)
      const state = async (id: string) => {
        const s = await node.app.store.schedules.getSchedule(id);
        const last = s?.last_run_at?.getTime() ?? 0;
        return {
          runs: s?.run_count ?? 0,
          next: s?.next_run_at?.getTime() ?? 0,
          past: (last - Date.parse(start)) / 1000 + 1,
        };
      };
      // running again: each has moved past the downtime (its missed occurrences decided)
      await waitFor(
        async () => {
          for (const id of ['skip', 'once', 'all']) if ((await state(id)).next <= restarted) return false;
          return true;
        },
        10_000,
        'every schedule past the downtime',
      );
      const [skip, once, all] = [await state('skip'), await state('once'), await state('all')];
      // each is on time again: its next run within the lookahead of now
      for (const s of [skip, once, all]) assert.ok(Math.abs(s.next - Date.now()) < 2000, JSON.stringify(s));
      // the occurrences each left without a message: once made one more message than skip, all two more
      // (the cap), whichever second each was read in
      const unmade = (x: { runs: number; past: number }) => x.past - x.runs;
      assert.equal(unmade(skip) - unmade(once), 1, JSON.stringify({ skip, once, all, before }));
      assert.equal(unmade(skip) - unmade(all), 2, JSON.stringify({ skip, once, all, before }));
      const metrics = await node.app.server.inject({ method: 'GET', url: '/metrics' });
      const skipped = /message_scheduler_schedule_occurrences_total\{outcome="skipped"\} (\d+)/.exec(
        metrics.body,
      );
      // about 4 missed each: skip skips them all, once all but one, all all but two
      assert.ok(Number(skipped?.[1]) >= 3, `skipped ${skipped?.[1]}`);
      assert.match(metrics.body, /message_scheduler_schedule_lag_seconds_count \d+/);
    } finally {
      await node.cleanup();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
