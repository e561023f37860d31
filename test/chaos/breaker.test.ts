import assert from 'node:assert/strict';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { before, test } from 'node:test';
import { Sink } from '../../bench/sink.js';
import { waitFor } from '../helpers/app.js';
import { CHAOS_URLS, logLines, report, serve, services, target, type Service } from './helpers.js';

before(() => services('up'));

type Phase = 'hang' | 'error' | 'ok';

/**
 * The broken receiver: in `hang` it never answers (the service's timeout ends each request), in
 * `error` it answers 500, in `ok` 200. It records each request's time, webhook-id and phase, and
 * the most requests it held at once.
 */
class Broken {
  phase: Phase = 'ok';
  readonly requests: Array<{ at: number; id: string; phase: Phase }> = [];
  private open = 0;
  maxOpen = 0;
  private readonly held = new Set<ServerResponse>();
  private readonly server = createServer((req: IncomingMessage, res: ServerResponse) => {
    req.resume();
    req.on('end', () => {
      const phase = this.phase;
      this.requests.push({ at: Date.now(), id: String(req.headers['webhook-id'] ?? ''), phase });
      this.open++;
      this.maxOpen = Math.max(this.maxOpen, this.open);
      res.on('close', () => {
        this.open--;
        this.held.delete(res);
      });
      if (phase === 'hang') {
        this.held.add(res);
        return;
      }
      res.writeHead(phase === 'ok' ? 200 : 500, { 'content-type': 'application/json' });
      res.end(phase === 'ok' ? '{"message":"Accepted"}' : '{"error":"broken"}');
    });
  });

  async start(): Promise<number> {
    await new Promise<void>((r) => this.server.listen(0, '127.0.0.1', r));
    return (this.server.address() as AddressInfo).port;
  }

  /** Requests that carried this webhook-id. */
  count(id: string): number {
    return this.requests.filter((r) => r.id === id).length;
  }

  async stop(): Promise<void> {
    for (const res of this.held) res.destroy();
    this.server.closeAllConnections();
    await new Promise<void>((r) => this.server.close(() => r()));
  }
}

const GOOD_RATE = 100; // per second, its own rate_limit
const GOOD_N = 2600;
const BAD_N = 300;
const BAD_MAX_IN_FLIGHT = 8;
const BAD_MAX_ATTEMPTS = 10;
const PHASE_MS = 6000;

test('two nodes on PostgreSQL: one of two destinations hangs, then answers 500, then recovers; the other keeps its pace, the breaker opens and closes once for the cluster, nothing is lost or attempted past its limits', async () => {
  const sink = new Sink({ port: 0, keep: 0, latencyMs: [1, 5] });
  const goodUrl = `http://127.0.0.1:${await sink.start()}/good`;
  const broken = new Broken();
  const badUrl = `http://127.0.0.1:${await broken.start()}/bad`;
  const t = target('postgres');
  const store = await t.open();
  const nodes: Service[] = [];
  try {
    const env = {
      ...t.env,
      // max_in_flight and the rate shared exactly by the nodes
      REDIS_URI: CHAOS_URLS.redis,
      CACHE_KEY_PREFIX: `${t.env.DATABASE_SCHEMA ?? 'chaos'}:`,
      POOL_NUM_WORKERS: '16',
      WORKER_JOB_INTERVAL: '50ms',
      WEBHOOK_CLIENT_TIMEOUT: '1s',
      POOL_LEASE_TIMEOUT: '10s',
      DESTINATIONS_BREAKER_WINDOW: '10s',
      DESTINATIONS_BREAKER_MIN_REQUESTS: '10',
      DESTINATIONS_BREAKER_CONSECUTIVE_FAILURES: '5',
      DESTINATIONS_BREAKER_OPEN_FOR: '2s',
      LOG_LEVEL: 'info',
    };
    nodes.push(await serve(env, goodUrl), await serve(env, goodUrl));
    const [n1, n2] = nodes;
    assert.ok(n1 && n2);
    const post = async (path: string, body: unknown) => {
      const res = await fetch(`${n1.url}${path}`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(body),
      });
      const text = await res.text();
      assert.ok(res.status < 300, `${path}: ${res.status} ${text}`);
      return JSON.parse(text) as unknown;
    };
    await post('/destinations', {
      id: 'good',
      url: goodUrl,
      rate_limit: { limit: GOOD_RATE, period: '1s', burst: 10 },
    });
    await post('/destinations', {
      id: 'bad',
      url: badUrl,
      max_in_flight: BAD_MAX_IN_FLIGHT,
      retry: { max_attempts: BAD_MAX_ATTEMPTS, base_delay: '100ms', max_delay: '1s' },
    });
    // both nodes know both destinations before the messages come
    await new Promise((r) => setTimeout(r, 500));

    broken.phase = 'hang';
    const batch = (destination: string, from: number, n: number) =>
      Array.from({ length: n }, (_, i) => ({
        content: `${destination} ${from + i}`,
        recipient_phone_number: '+905551234567',
        destination,
      }));
    for (let i = 0; i < GOOD_N; i += 500)
      await post('/messages/batch', { messages: batch('good', i, Math.min(500, GOOD_N - i)) });
    await post('/messages/batch', { messages: batch('bad', 0, BAD_N) });
    const t0 = Date.now();

    // the good destination's progress, sampled every 250 ms through the outage
    const samples: Array<{ at: number; good: number }> = [];
    const sampler = setInterval(() => samples.push({ at: Date.now(), good: sink.stats().accepted }), 250);
    // the circuit as the API shows it, polled: each opening has its own opened_at
    const circuits: Array<{ at: number; circuit: string; opened: string | null }> = [];
    const gauge: number[] = [];
    // the other node's gauge of circuits open (it reads the cluster's circuits); -1: not read
    const openGauge = async (): Promise<number> => {
      const m = await fetch(`${n2.url}/metrics`).catch(() => null);
      if (!m?.ok) return -1;
      return Number(
        /^message_scheduler_destination_circuits\{state="open"\} (\d+)$/m.exec(await m.text())?.[1] ?? -1,
      );
    };
    let polling = true;
    const poller = (async () => {
      while (polling) {
        const r = await fetch(`${n1.url}/destinations/bad`).catch(() => null);
        if (r?.ok) {
          const b = (await r.json()) as { health: { circuit: string; circuit_opened_at: string | null } };
          circuits.push({ at: Date.now(), circuit: b.health.circuit, opened: b.health.circuit_opened_at });
        }
        const open = await openGauge();
        if (open >= 0) gauge.push(open);
        await new Promise((res) => setTimeout(res, 100));
      }
    })();
    await new Promise((r) => setTimeout(r, PHASE_MS));
    broken.phase = 'error';
    const errorAt = Date.now();
    await new Promise((r) => setTimeout(r, PHASE_MS));
    broken.phase = 'ok';
    const recoverAt = Date.now();
    clearInterval(sampler);

    await waitFor(
      async () => {
        const c = await store.countByStatus();
        return c.sent === GOOD_N + BAD_N;
      },
      60_000,
      'every message sent',
    ).catch(async (err: unknown) => {
      const c = await store.countByStatus();
      const logs = nodes.flatMap((n) =>
        logLines(n)
          .filter((l) => /circuit|destination|probe/.test(String(l.msg)))
          .map((l) => `${String(l.time)} ${String(l.msg)} ${JSON.stringify(l)}`),
      );
      const h = await (await fetch(`${n1.url}/destinations/bad`)).text();
      throw new Error(
        `${String(err)}: ${JSON.stringify(c)} good=${sink.stats().accepted} bad=${broken.requests.length} last bad at ${broken.requests.at(-1)?.at} now ${Date.now()}\n${h}\n${logs.slice(-40).join('\n')}`,
      );
    });
    const doneAt = Date.now();
    polling = false;
    await poller;
    const health = (await (await fetch(`${n1.url}/destinations/bad`)).json()) as {
      health: { circuit: string; success_ratio: number | null; last_success_at: string | null };
    };
    // the other node hears of the closing at once (a signal) or at its next refresh
    await waitFor(async () => (await openGauge()) === 0, 15_000, 'the open-circuit gauge back to 0');
    gauge.push(await openGauge());
    for (const n of nodes.splice(0)) assert.equal(await n.stop('SIGTERM'), 0);

    // the good destination kept its pace through the outage: 100/s, less what a busy machine costs
    const during = samples.filter((s) => s.at >= t0 + 1000 && s.at <= recoverAt);
    const first = during[0];
    const last = during[during.length - 1];
    assert.ok(first && last);
    const goodRate = ((last.good - first.good) * 1000) / (last.at - first.at);

    // what the broken receiver got while broken: the requests held when the circuit opened, the
    // probes, and nothing more
    const whileBroken = broken.requests.filter((r) => r.phase !== 'ok');
    const c = await store.countByStatus();
    let overBudget = 0;
    let mismatched = 0;
    let attemptsTotal = 0;
    for (let after: { at: Date; id: string } | undefined, more = true; more;) {
      const page = await store.list({
        order: 'created',
        status: 'sent',
        limit: 500,
        after,
        destination: 'bad',
      });
      for (const m of page.items) {
        attemptsTotal += m.attempts;
        if (m.attempts > BAD_MAX_ATTEMPTS) overBudget++;
        const rows = await store.attempts(m.id);
        if (rows.length !== m.attempts || broken.count(m.webhook_id) !== m.attempts) mismatched++;
      }
      more = page.next !== null;
      after = page.next ?? undefined;
    }
    const figures = {
      good_rate_during_outage: Math.round(goodRate * 10) / 10,
      good_limit: GOOD_RATE,
      bad_requests_while_broken: whileBroken.length,
      bad_requests_hang_phase: whileBroken.filter((r) => r.phase === 'hang').length,
      bad_requests_error_phase: whileBroken.filter((r) => r.phase === 'error').length,
      bad_max_in_flight_seen: broken.maxOpen,
      bad_attempts_total: attemptsTotal,
      all_sent_after_recovery_s: Math.round((doneAt - recoverAt) / 100) / 10,
      bad_last_request_after_recovery_s:
        Math.round(((broken.requests.at(-1)?.at ?? 0) - recoverAt) / 100) / 10,
      error_phase_s: Math.round((recoverAt - errorAt) / 100) / 10,
      bad_per_s_after_recovery: Array.from(
        { length: 5 },
        (_, i) =>
          broken.requests.filter((r) => r.at >= recoverAt + i * 1000 && r.at < recoverAt + (i + 1) * 1000)
            .length,
      ).join(' '),
      open_circuits_gauge_max: Math.max(0, ...gauge),
      open_circuits_gauge_last: gauge.at(-1) ?? -1,
      circuit_openings: new Set(circuits.flatMap((x) => (x.opened ? [x.opened] : []))).size,
      circuit_states_seen: circuits
        .map((x) => x.circuit)
        .filter((x, i, all) => i === 0 || all[i - 1] !== x)
        .join('>'),
      circuit_open_s:
        Math.round(
          ((circuits.filter((x) => x.circuit !== 'closed').at(-1)?.at ?? 0) -
            (circuits.find((x) => x.circuit !== 'closed')?.at ?? 0)) /
            100,
        ) / 10,
    };
    report('breaker', figures);

    assert.equal(c.sent, GOOD_N + BAD_N, JSON.stringify(c));
    assert.equal(c.failed + c.unsent + c.processing, 0, JSON.stringify(c));
    assert.equal(sink.stats().duplicates, 0);
    assert.equal(sink.stats().unique_webhook_ids, GOOD_N);
    assert.ok(goodRate >= 0.9 * GOOD_RATE, `good kept its pace: ${JSON.stringify(figures)}`);
    assert.ok(broken.maxOpen <= BAD_MAX_IN_FLIGHT, `max_in_flight held: ${JSON.stringify(figures)}`);
    assert.equal(overBudget, 0, 'no message attempted past max_attempts');
    assert.equal(mismatched, 0, 'every request the receiver got is a recorded attempt, and the reverse');
    // without the breaker a 12 s outage costs hundreds of requests (8 held 1 s each in the hang, then
    // a 500 as fast as retries come); with it: the first held wave, the run that opens it, a probe per 2 s
    assert.ok(whileBroken.length <= 60, `the open circuit held attempts back: ${JSON.stringify(figures)}`);
    // opened once for the cluster (each later failed probe opens it again, not a new opening), closed once
    assert.equal(figures.circuit_openings, 1, JSON.stringify(figures));
    assert.match(figures.circuit_states_seen, /^closed>open>.*half_open.*>closed$/, JSON.stringify(figures));
    assert.equal(health.health.circuit, 'closed');
    // the other node's gauge saw the cluster's circuit open, and closed again
    assert.equal(figures.open_circuits_gauge_max, 1, JSON.stringify(figures));
    assert.equal(figures.open_circuits_gauge_last, 0, JSON.stringify(figures));
    // recovered: the next probe closes it (open for 2 s at most), and the backlog goes at once
    assert.ok(figures.bad_last_request_after_recovery_s <= 10, JSON.stringify(figures));
    assert.ok(health.health.last_success_at);
  } finally {
    for (const n of nodes) await n.stop('SIGKILL');
    await store.close();
    await t.drop();
    await sink.stop();
    await broken.stop();
  }
});
