/**
 * Traces checked in a real OTLP receiver: Jaeger v2 (built once by scripts/services.sh from
 * the Go module proxy), its own instance on loopback with an in-memory store, read back
 * through its query API. The services under test are real processes.
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { homedir, tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { Sink } from '../bench/sink.js';
import { startCli, type Proc } from '../bench/processes.js';
import { ConfigError, loadConfig } from '../src/config/config.js';
import { serviceUrl, uniqueName } from './helpers/services.js';
import { testApp, waitFor } from './helpers/app.js';

const JAEGER =
  process.env.JAEGER_BIN ??
  join(process.env.XDG_CACHE_HOME ?? join(homedir(), '.cache'), 'message-scheduler/bin/jaeger-v1.76.0');
const available = existsSync(JAEGER);
if (!available && (process.env.CI === 'true' || process.env.REQUIRE_SERVICES === '1')) {
  throw new Error(
    `Jaeger is not built (${JAEGER}) but CI/REQUIRE_SERVICES requires it: run scripts/services.sh up`,
  );
}
if (!available)
  process.stderr.write(`\n!!! Jaeger is not built (${JAEGER}): skipping (scripts/services.sh up)\n\n`);

// clear of the other tests' ports (e2e 3900+, chaos 10000+, Prometheus 19090+, bench 30000+)
const BASE = 21_000 + (process.pid % 300) * 8;
const OTLP_PORT = BASE;
const QUERY_PORT = BASE + 1;
const GRPC_PORT = BASE + 3;
let nextPort = BASE + 4;
const QUERY = `http://127.0.0.1:${QUERY_PORT}`;

let dir = '';
let jaeger: ChildProcess | null = null;
let jaegerOut = '';
const procs: Proc[] = [];

/** The env that turns tracing on in a service: the standard variables, a short export delay. */
const OTEL = {
  OTEL_EXPORTER_OTLP_ENDPOINT: `http://127.0.0.1:${OTLP_PORT}`,
  OTEL_BSP_SCHEDULE_DELAY: '100',
  OTEL_SERVICE_NAME: 'message-scheduler-test',
};

before(async () => {
  if (!available) return;
  dir = mkdtempSync(join(tmpdir(), 'ms-jaeger-'));
  // every listener on loopback; no metrics endpoint of its own; memory only
  writeFileSync(
    join(dir, 'jaeger.yaml'),
    [
      'service:',
      '  extensions: [jaeger_storage, jaeger_query]',
      '  pipelines:',
      '    traces: { receivers: [otlp], processors: [batch], exporters: [jaeger_storage_exporter] }',
      '  telemetry: { metrics: { level: none }, logs: { level: warn } }',
      'extensions:',
      '  jaeger_storage: { backends: { memstore: { memory: { max_traces: 10000 } } } }',
      '  jaeger_query:',
      '    storage: { traces: memstore }',
      `    http: { endpoint: "127.0.0.1:${QUERY_PORT}" }`,
      `    grpc: { endpoint: "127.0.0.1:${BASE + 2}" }`,
      'receivers:',
      `  otlp: { protocols: { http: { endpoint: "127.0.0.1:${OTLP_PORT}" }, grpc: { endpoint: "127.0.0.1:${GRPC_PORT}" } } }`,
      'processors:',
      '  batch: { timeout: 100ms }',
      'exporters:',
      '  jaeger_storage_exporter: { trace_storage: memstore }',
      '',
    ].join('\n'),
  );
  jaeger = spawn(JAEGER, ['--config', join(dir, 'jaeger.yaml')], { stdio: ['ignore', 'pipe', 'pipe'] });
  jaeger.stdout?.on('data', (d: Buffer) => (jaegerOut = (jaegerOut + d.toString()).slice(-10_000)));
  jaeger.stderr?.on('data', (d: Buffer) => (jaegerOut = (jaegerOut + d.toString()).slice(-10_000)));
  await waitFor(
    async () => (await fetch(`${QUERY}/api/services`).catch(() => null))?.ok === true,
    30_000,
    `Jaeger answers on ${QUERY_PORT} (${jaegerOut})`,
  );
});

after(async () => {
  await Promise.all(procs.map((p) => p.stop()));
  // waited for: a child still running (and its pipes) would keep this file's process alive
  const j = jaeger;
  if (j && j.exitCode === null && j.signalCode === null) {
    const exited = new Promise((r) => j.once('exit', r));
    j.kill('SIGTERM');
    const hard = setTimeout(() => j.kill('SIGKILL'), 5000);
    await exited;
    clearTimeout(hard);
  }
  if (dir) rmSync(dir, { recursive: true, force: true });
});

interface JaegerSpan {
  traceID: string;
  spanID: string;
  operationName: string;
  references: { refType: string; spanID: string; traceID: string }[];
  tags: { key: string; value: unknown }[];
  processID: string;
}
interface JaegerTrace {
  spans: JaegerSpan[];
  processes: Record<string, { serviceName: string; tags: { key: string; value: unknown }[] }>;
}

const tag = (s: JaegerSpan, key: string): unknown => s.tags.find((t) => t.key === key)?.value;
const parentOf = (s: JaegerSpan): string | undefined =>
  s.references.find((r) => r.refType === 'CHILD_OF')?.spanID;

/** The trace as Jaeger stored it, once it holds at least `spans` spans. */
async function traceWith(traceId: string, spans: number): Promise<JaegerTrace> {
  let got: JaegerTrace | null = null;
  await waitFor(
    async () => {
      const r = await fetch(`${QUERY}/api/traces/${traceId}`);
      if (!r.ok) return false;
      got = ((await r.json()) as { data: JaegerTrace[] }).data[0] ?? null;
      return (got?.spans.length ?? 0) >= spans;
    },
    15_000,
    `trace ${traceId} with ${spans} spans in Jaeger`,
  );
  if (!got) throw new Error('unreachable');
  return got;
}

async function serve(env: Record<string, string>, sinkUrl: string, role = 'all'): Promise<string> {
  const port = nextPort++;
  const proc = startCli(['serve', '--role', role], {
    PORT: String(port),
    HOST: '127.0.0.1',
    WEBHOOK_URL: sinkUrl,
    RATE_LIMITER_ENABLED: 'false',
    API_RATE_LIMITER_ENABLED: 'false',
    WORKER_JOB_INTERVAL: '100ms',
    LOG_LEVEL: 'debug',
    ...env,
  });
  procs.push(proc);
  const url = `http://127.0.0.1:${port}`;
  await waitFor(
    async () => (await fetch(`${url}/healthz`).catch(() => null))?.ok === true,
    60_000,
    `service on ${port} (${proc.output()})`,
  );
  return url;
}

function logLines(proc: Proc): Record<string, unknown>[] {
  return proc
    .output()
    .split('\n')
    .flatMap((l) => {
      try {
        return [JSON.parse(l) as Record<string, unknown>];
      } catch {
        return [];
      }
    });
}

const hex = (bytes: number): string => randomBytes(bytes).toString('hex');

async function post(
  url: string,
  body: unknown,
  headers: Record<string, string> = {},
): Promise<{ id: string }> {
  const r = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: JSON.stringify(body),
  });
  assert.equal(r.status, 201, await r.clone().text());
  return (await r.json()) as { id: string };
}

describe('traces in a real OTLP receiver (Jaeger)', { skip: !available && 'Jaeger is not built' }, () => {
  test('a message created with a traceparent on an api node and delivered (after a retry) by a worker node: one trace, linked across processes, and the receiver continues it', async (ctx) => {
    const dbUrl = serviceUrl('DATABASE_URL');
    if (!dbUrl) return ctx.skip('DATABASE_URL not set');
    // the receiver answers 500 to the first request and 202 after
    let draws = 0;
    const sink = new Sink({ port: 0, failRate: 0.5, random: () => (draws++ === 0 ? 0 : 0.99) });
    const sinkUrl = `http://127.0.0.1:${await sink.start()}/hook`;
    try {
      const env = {
        ...OTEL,
        DATABASE_URL: dbUrl,
        DATABASE_SCHEMA: uniqueName('tracing'),
        RETRY_BASE_DELAY: '200ms',
        POOL_INITIAL_JOB_FETCH: 'true',
      };
      const api = await serve(env, sinkUrl, 'api');
      const apiProc = procs[procs.length - 1] as Proc;
      await serve(env, sinkUrl, 'worker');
      const worker = procs[procs.length - 1] as Proc;

      const traceId = hex(16);
      const callerSpan = hex(8);
      const { id } = await post(
        `${api}/messages`,
        { content: 'traced', recipient_phone_number: '+905551234567' },
        { traceparent: `00-${traceId}-${callerSpan}-01` },
      );
      await waitFor(() => sink.stats().accepted === 1, 20_000, `delivered (${worker.output()})`);
      assert.equal(sink.stats().failed_injected, 1, 'the first attempt was refused');

      // the receiver's request continues the trace: same trace id, a new parent span
      const delivered = sink.deliveries()[0];
      const m = /^00-([0-9a-f]{32})-([0-9a-f]{16})-01$/.exec(delivered?.traceparent ?? '');
      assert.ok(m, `traceparent on the webhook request: ${delivered?.traceparent}`);
      assert.equal(m[1], traceId);

      const t = await traceWith(traceId, 3);
      const server = t.spans.find((s) => s.operationName === 'POST /messages');
      assert.ok(server, `a server span: ${t.spans.map((s) => s.operationName).join(', ')}`);
      assert.equal(parentOf(server), callerSpan, 'the request span continues the caller’s');
      assert.equal(tag(server, 'span.kind'), 'server');
      assert.equal(tag(server, 'http.response.status_code'), 201);
      assert.equal(tag(server, 'http.route'), '/messages');

      const attempts = t.spans
        .filter((s) => tag(s, 'span.kind') === 'client')
        .sort(
          (a, b) => Number(tag(a, 'message_scheduler.attempt')) - Number(tag(b, 'message_scheduler.attempt')),
        );
      assert.equal(attempts.length, 2, 'one client span per attempt');
      const [first, second] = attempts as [JaegerSpan, JaegerSpan];
      for (const [i, s] of attempts.entries()) {
        assert.equal(parentOf(s), server.spanID, 'each attempt is a child of the request that created it');
        assert.equal(s.operationName, 'POST');
        assert.equal(tag(s, 'message_scheduler.attempt'), i + 1);
        assert.equal(tag(s, 'message_scheduler.webhook.id'), `msg_${id}`);
        assert.equal(tag(s, 'http.request.method'), 'POST');
        assert.equal(tag(s, 'server.address'), '127.0.0.1');
        assert.equal(tag(s, 'url.full'), sinkUrl);
      }
      assert.equal(tag(first, 'http.response.status_code'), 500);
      assert.equal(tag(first, 'message_scheduler.outcome'), 'retry');
      assert.equal(tag(first, 'error.type'), '500');
      assert.equal(tag(first, 'otel.status_code'), 'ERROR');
      assert.equal(tag(second, 'http.response.status_code'), 202);
      assert.equal(tag(second, 'message_scheduler.outcome'), 'sent');
      assert.equal(m[2], second.spanID, 'the receiver’s parent is the attempt that reached it');

      // the trace as Jaeger holds it, where CI's log shows it
      const tags = (x: JaegerSpan, keys: string[]): string =>
        keys.flatMap((k) => (tag(x, k) === undefined ? [] : [`${k}=${String(tag(x, k))}`])).join(' ');
      process.stdout.write(
        [
          `tracing: trace ${traceId} in Jaeger (caller span ${callerSpan}):`,
          `  ${server.operationName} span ${server.spanID} parent ${parentOf(server)} ${tags(server, ['span.kind', 'http.route', 'http.response.status_code'])}`,
          ...attempts.map(
            (x) =>
              `    ${x.operationName} span ${x.spanID} parent ${parentOf(x)} ${tags(x, ['span.kind', 'message_scheduler.attempt', 'message_scheduler.outcome', 'http.response.status_code', 'error.type', 'message_scheduler.webhook.id'])}`,
          ),
          `  receiver got traceparent: ${delivered?.traceparent}`,
          '',
        ].join('\n'),
      );

      // the request span and the attempts come from two processes
      const pid = (s: JaegerSpan): unknown =>
        t.processes[s.processID]?.tags.find((x) => x.key === 'process.pid')?.value;
      assert.equal(t.processes[server.processID]?.serviceName, 'message-scheduler-test');
      assert.equal(pid(server), apiProc.child.pid);
      assert.equal(pid(second), worker.child.pid);

      // log lines carry the ids of their span
      const finished = logLines(worker).filter(
        (l) => l.msg === 'delivery attempt finished' && l.message_id === id,
      );
      assert.equal(finished.length, 2, worker.output());
      assert.deepEqual(
        finished.map((l) => [l.trace_id, l.span_id]),
        attempts.map((s) => [traceId, s.spanID]),
      );
      const accepted = logLines(apiProc).find((l) => l.msg === 'message accepted' && l.message_id === id);
      assert.equal(accepted?.trace_id, traceId);
      assert.equal(accepted?.span_id, server.spanID);

      // the claim rounds are spans of their own (not per message), each saying what it did
      const rounds = await fetch(
        `${QUERY}/api/traces?service=message-scheduler-test&operation=${encodeURIComponent('claim round')}&limit=20&lookback=1h`,
      );
      const roundSpans = ((await rounds.json()) as { data: JaegerTrace[] }).data.flatMap((x) => x.spans);
      assert.ok(roundSpans.length >= 1, 'claim round spans');
      assert.ok(roundSpans.some((s) => Number(tag(s, 'message_scheduler.claimed')) >= 1));
      assert.ok(
        roundSpans.every((s) => s.references.length === 0),
        'a round is a root span',
      );
    } finally {
      await Promise.all(procs.splice(0).map((p) => p.stop()));
      await sink.stop();
    }
  });

  test('without a traceparent the request starts the trace; a batch shares it; a bad traceparent is ignored; an unsampled one is passed on unrecorded', async () => {
    const sink = new Sink({ port: 0 });
    const sinkUrl = `http://127.0.0.1:${await sink.start()}/hook`;
    const sqliteDir = mkdtempSync(join(tmpdir(), 'ms-tracing-'));
    try {
      // the HTTP work on delivery threads: the traceparent crosses to them with the request
      const api = await serve(
        { ...OTEL, SQLITE_PATH: join(sqliteDir, 'm.db'), POOL_DELIVERY_THREADS: '2' },
        sinkUrl,
      );
      const batch = await fetch(`${api}/messages/batch`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({
          messages: [
            { content: 'one', recipient_phone_number: '+905550000001' },
            { content: 'two', recipient_phone_number: '+905550000002' },
          ],
        }),
      });
      assert.equal(batch.status, 201);
      await post(
        `${api}/messages`,
        { content: 'bad header', recipient_phone_number: '+905550000003' },
        { traceparent: 'zz-not-a-trace-context' },
      );
      const unsampled = hex(16);
      await post(
        `${api}/messages`,
        { content: 'unsampled', recipient_phone_number: '+905550000004' },
        { traceparent: `00-${unsampled}-${hex(8)}-00` },
      );
      await waitFor(() => sink.stats().accepted === 4, 20_000, 'four delivered');
      const by = new Map(sink.deliveries().map((d) => [d.content, d.traceparent ?? '']));
      const traceOf = (content: string): string => by.get(content)?.split('-')[1] ?? '';

      // the batch: one trace, whose root is the request
      assert.equal(traceOf('one'), traceOf('two'));
      const t = await traceWith(traceOf('one'), 3);
      const root = t.spans.find((s) => s.references.length === 0);
      assert.equal(root?.operationName, 'POST /messages/batch');
      assert.equal(t.spans.filter((s) => parentOf(s) === root?.spanID).length, 2);

      // a malformed traceparent: a trace of its own, the request still answered
      const bad = await traceWith(traceOf('bad header'), 2);
      assert.equal(bad.spans.find((s) => s.references.length === 0)?.operationName, 'POST /messages');

      // sampled-out by the caller: the receiver still gets the trace id, flags 00, and nothing is recorded
      assert.match(by.get('unsampled') ?? '', new RegExp(`^00-${unsampled}-[0-9a-f]{16}-00$`));
      await new Promise((r) => setTimeout(r, 500));
      const none = await fetch(`${QUERY}/api/traces/${unsampled}`);
      assert.equal(none.status, 404);
    } finally {
      await Promise.all(procs.splice(0).map((p) => p.stop()));
      await sink.stop();
      rmSync(sqliteDir, { recursive: true, force: true });
    }
  });
});

describe(
  "the SDK's export path: the other OTLP protocols, and tracing.poolExporter sdk",
  { skip: !available && 'Jaeger is not built' },
  () => {
    for (const [protocol, endpoint, poolExporter] of [
      ['http/json', `http://127.0.0.1:${OTLP_PORT}`, 'encoder'],
      ['grpc', `http://127.0.0.1:${GRPC_PORT}`, 'encoder'],
      ['http/protobuf', `http://127.0.0.1:${OTLP_PORT}`, 'sdk'],
    ] as const) {
      test(`OTEL_EXPORTER_OTLP_PROTOCOL=${protocol}, TRACING_POOL_EXPORTER=${poolExporter}: the same trace reaches Jaeger through the SDK's exporter`, async () => {
        const sink = new Sink({ port: 0 });
        const sinkUrl = `http://127.0.0.1:${await sink.start()}/hook`;
        const sqliteDir = mkdtempSync(join(tmpdir(), 'ms-tracing-'));
        try {
          const api = await serve(
            {
              ...OTEL,
              OTEL_EXPORTER_OTLP_ENDPOINT: endpoint,
              OTEL_EXPORTER_OTLP_PROTOCOL: protocol,
              TRACING_POOL_EXPORTER: poolExporter,
              SQLITE_PATH: join(sqliteDir, 'm.db'),
            },
            sinkUrl,
          );
          const traceId = hex(16);
          const { id } = await post(
            `${api}/messages`,
            { content: protocol, recipient_phone_number: '+905551234567' },
            { traceparent: `00-${traceId}-${hex(8)}-01` },
          );
          await waitFor(() => sink.stats().accepted === 1, 20_000, 'delivered');
          const t = await traceWith(traceId, 2);
          const server = t.spans.find((s) => s.operationName === 'POST /messages');
          const attempt = t.spans.find((s) => tag(s, 'span.kind') === 'client');
          assert.ok(server && attempt, t.spans.map((s) => s.operationName).join(', '));
          assert.equal(parentOf(attempt), server.spanID);
          assert.equal(tag(attempt, 'message_scheduler.webhook.id'), `msg_${id}`);
          assert.equal(tag(attempt, 'message_scheduler.attempt'), 1);
          assert.equal(tag(attempt, 'http.response.status_code'), 202);
          assert.equal(sink.deliveries()[0]?.traceparent?.split('-')[2], attempt.spanID);
        } finally {
          await Promise.all(procs.splice(0).map((p) => p.stop()));
          await sink.stop();
          rmSync(sqliteDir, { recursive: true, force: true });
        }
      });
    }
  },
);

describe('tracing off and tracing config', () => {
  test('without an OTLP endpoint nothing is traced: no traceparent on the webhook, no trace context stored', async () => {
    const sink = new Sink({ port: 0 });
    const sinkPort = await sink.start();
    const t = await testApp({
      WEBHOOK_URL: `http://127.0.0.1:${sinkPort}/hook`,
      RATE_LIMITER_ENABLED: 'false',
      POOL_INITIAL_JOB_FETCH: 'true',
    });
    try {
      assert.equal(t.config.tracing, null);
      const r = await t.app.server.inject({
        method: 'POST',
        url: '/messages',
        headers: { traceparent: `00-${hex(16)}-${hex(8)}-01` },
        payload: { content: 'plain', recipient_phone_number: '+905551234567' },
      });
      assert.equal(r.statusCode, 201);
      const id = (r.json() as { id: string }).id;
      assert.equal((await t.app.store.get(id))?.trace_context, null);
      t.app.pool.start();
      await waitFor(() => sink.stats().accepted === 1, 10_000, 'delivered');
      assert.equal(sink.deliveries()[0]?.traceparent, null);
    } finally {
      await t.cleanup();
      await sink.stop();
    }
  });

  test('off unless an endpoint is set; OTEL_SDK_DISABLED and OTEL_TRACES_EXPORTER=none turn it off', () => {
    const base = { SQLITE_PATH: '/tmp/x.db' };
    assert.equal(loadConfig(base).tracing, null);
    const on = loadConfig({ ...base, OTEL_EXPORTER_OTLP_ENDPOINT: 'http://collector:4318' }).tracing;
    assert.deepEqual(on, {
      endpoint: 'http://collector:4318',
      protocol: 'http/protobuf',
      serviceName: 'message-scheduler',
      sampler: 'parentbased_always_on',
      ratio: 1,
      poolExporter: 'encoder',
    });
    assert.equal(
      loadConfig({ ...base, OTEL_EXPORTER_OTLP_ENDPOINT: 'http://c:4318', TRACING_POOL_EXPORTER: 'sdk' })
        .tracing?.poolExporter,
      'sdk',
    );
    assert.equal(
      loadConfig({
        ...base,
        OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: 'https://c/v1/traces',
        OTEL_SERVICE_NAME: 'sched',
      }).tracing?.serviceName,
      'sched',
    );
    for (const off of [{ OTEL_SDK_DISABLED: 'true' }, { OTEL_TRACES_EXPORTER: 'none' }]) {
      assert.equal(
        loadConfig({ ...base, OTEL_EXPORTER_OTLP_ENDPOINT: 'http://c:4318', ...off }).tracing,
        null,
      );
    }
  });

  test('a bad tracing variable stops start-up with one line naming it, the value (unless it may hold a secret) and what was expected', () => {
    const cases: [Record<string, string>, RegExp][] = [
      [
        { OTEL_EXPORTER_OTLP_ENDPOINT: 'collector:4318' },
        // an endpoint may carry a password: never shown, even when it does not parse
        /OTEL_EXPORTER_OTLP_ENDPOINT \(value not shown: it may hold a password\) is invalid: expected an http/,
      ],
      [
        { OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: 'udp://c:1' },
        /OTEL_EXPORTER_OTLP_TRACES_ENDPOINT \(value not shown: it may hold a password\) is invalid/,
      ],
      [
        { OTEL_EXPORTER_OTLP_ENDPOINT: 'http://c:4318', OTEL_EXPORTER_OTLP_PROTOCOL: 'thrift' },
        /OTEL_EXPORTER_OTLP_PROTOCOL = "thrift" is invalid: expected http\/protobuf, http\/json, grpc/,
      ],
      [
        { OTEL_EXPORTER_OTLP_ENDPOINT: 'http://c:4318', OTEL_TRACES_SAMPLER: 'sometimes' },
        /OTEL_TRACES_SAMPLER = "sometimes" is invalid/,
      ],
      [
        {
          OTEL_EXPORTER_OTLP_ENDPOINT: 'http://c:4318',
          OTEL_TRACES_SAMPLER: 'traceidratio',
          OTEL_TRACES_SAMPLER_ARG: '2',
        },
        /OTEL_TRACES_SAMPLER_ARG = "2" is invalid: expected a ratio from 0 to 1/,
      ],
      [
        { OTEL_TRACES_EXPORTER: 'zipkin' },
        /OTEL_TRACES_EXPORTER = "zipkin" is invalid: expected otlp or none/,
      ],
      [{ OTEL_SDK_DISABLED: 'maybe' }, /OTEL_SDK_DISABLED = "maybe" is invalid: expected true or false/],
      // credentials in the endpoint and a token in the headers are never shown
      [
        {
          OTEL_EXPORTER_OTLP_ENDPOINT: 'http://user:hunter2secret@c:4318',
          OTEL_EXPORTER_OTLP_HEADERS: 'authorization=Bearer tok3n-value',
          OTEL_EXPORTER_OTLP_PROTOCOL: 'tok3n-value',
        },
        /OTEL_EXPORTER_OTLP_PROTOCOL = "\*\*\*" is invalid/,
      ],
    ];
    for (const [env, expected] of cases) {
      assert.throws(
        () => loadConfig({ SQLITE_PATH: '/tmp/x.db', ...env }),
        (err: unknown) => {
          assert.ok(err instanceof ConfigError);
          assert.match(err.message, expected);
          assert.ok(!err.message.includes('\n'), 'one line');
          assert.ok(!/hunter2secret|tok3n-value/.test(err.message), err.message);
          return true;
        },
        JSON.stringify(env),
      );
    }
  });
});
