/**
 * A real Prometheus (Debian's package, its own instance on loopback) scrapes a
 * running service with a metrics:read key; PromQL answers are checked against
 * what the receiver counted.
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { AddressInfo } from 'node:net';
import { after, before, test } from 'node:test';
import { Sink } from '../bench/sink.js';
import { testApp, waitFor } from './helpers/app.js';

const PROMETHEUS = 'prometheus';
const available = spawnSync(PROMETHEUS, ['--version']).status === 0;
if (!available && (process.env.CI === 'true' || process.env.REQUIRE_SERVICES === '1')) {
  throw new Error(
    'prometheus is not installed but CI/REQUIRE_SERVICES requires it: run scripts/services.sh up',
  );
}
if (!available)
  process.stderr.write('\n!!! prometheus is not installed: skipping (scripts/services.sh up)\n\n');

let dir = '';
let prom: ChildProcess | null = null;
let promUrl = '';
let promOut = '';
const sink = new Sink({ port: 0, keep: 0 });
let t: Awaited<ReturnType<typeof testApp>>;
/** keys made in before(): Prometheus' metrics:read key, and one to write messages and start the pool */
let scraperKey = '';
let writerKey = '';

async function query(expr: string): Promise<{ metric: Record<string, string>; value: [number, string] }[]> {
  const r = await fetch(`${promUrl}/api/v1/query?query=${encodeURIComponent(expr)}`);
  const body = (await r.json()) as {
    status: string;
    data: { result: { metric: Record<string, string>; value: [number, string] }[] };
  };
  assert.equal(body.status, 'success', expr);
  return body.data.result;
}

const scalar = async (expr: string): Promise<number> => Number((await query(expr))[0]?.value[1] ?? NaN);

before(async () => {
  if (!available) return;
  const sinkPort = await sink.start();
  t = await testApp({
    API_AUTH: 'required',
    WEBHOOK_URL: `http://127.0.0.1:${sinkPort}/hook`,
    // on but wide open: the dashboard's tokens panel has its gauge, and nothing waits for a token
    RATE_LIMITER_ENABLED: 'true',
    RATE_LIMITER_MAX_TOKENS: '100000',
    RATE_LIMITER_REFILL_RATE: '100000',
    RATE_LIMITER_REFILL_INTERVAL: '1s',
    METRICS_COUNT_INTERVAL: '1s',
  });
  await t.app.server.listen({ port: 0, host: '127.0.0.1' });
  const port = (t.app.server.server.address() as AddressInfo).port;
  t.app.pool.start();
  // a metrics:read key for Prometheus, an all-purpose one for the test
  const { createApiKey } = await import('../src/auth/key-admin.js');
  const scraper = await createApiKey(t.app.store.keys, 'prometheus', ['metrics:read']);
  const writer = await createApiKey(t.app.store.keys, 'writer', ['messages:write', 'pool:control']);
  writerKey = writer.key;
  scraperKey = scraper.key;
  dir = mkdtempSync(join(tmpdir(), 'ms-prom-'));
  writeFileSync(
    join(dir, 'prometheus.yml'),
    [
      'global: { scrape_interval: 1s, evaluation_interval: 1s }',
      'scrape_configs:',
      '  - job_name: message-scheduler',
      '    authorization: { type: Bearer, credentials_file: ' + JSON.stringify(join(dir, 'key')) + ' }',
      `    static_configs: [{ targets: ['127.0.0.1:${port}'] }]`,
      '',
    ].join('\n'),
  );
  writeFileSync(join(dir, 'key'), scraper.key, { mode: 0o600 });
  const promPort = 19_090 + (process.pid % 500);
  promUrl = `http://127.0.0.1:${promPort}`;
  prom = spawn(
    PROMETHEUS,
    [
      `--config.file=${join(dir, 'prometheus.yml')}`,
      `--storage.tsdb.path=${join(dir, 'data')}`,
      `--web.listen-address=127.0.0.1:${promPort}`,
    ],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  prom.stderr?.on('data', (d: Buffer) => (promOut = (promOut + d.toString()).slice(-5000)));
  await waitFor(
    async () => (await fetch(`${promUrl}/-/ready`).catch(() => null))?.ok === true,
    30_000,
    'Prometheus to start',
  );
});

after(async () => {
  if (!available) return;
  prom?.kill('SIGTERM');
  await new Promise((r) => (prom?.exitCode !== null ? r(null) : prom.once('exit', r)));
  await t.cleanup();
  await sink.stop();
  rmSync(dir, { recursive: true, force: true });
});

test('Prometheus scrapes the service; PromQL agrees with the receiver', { skip: !available }, async () => {
  const auth = { authorization: `Bearer ${writerKey}`, 'content-type': 'application/json' };
  const base = `http://127.0.0.1:${(t.app.server.server.address() as AddressInfo).port}`;
  // the key was written to the store directly: wait until this node's registry has read it
  await waitFor(
    async () =>
      (
        await fetch(`${base}/worker-pool/state`, {
          method: 'PUT',
          headers: auth,
          body: JSON.stringify({ action: 'start' }),
        })
      ).ok,
    10_000,
    'the keys to be read',
  );
  await waitFor(
    async () => (await query('up{job="message-scheduler"} == 1')).length === 1,
    20_000,
    `a first good scrape: ${promOut}`,
  );
  const n = 40;
  for (let i = 0; i < n; i++) {
    const r = await fetch(`${base}/messages`, {
      method: 'POST',
      headers: auth,
      body: JSON.stringify({ content: `prom ${i}`, recipient_phone_number: '+905551234567' }),
    });
    assert.equal(r.status, 201);
  }
  await waitFor(() => sink.stats().accepted >= n, 10_000, 'the deliveries');
  const sent = 'message_scheduler_deliveries_total{outcome="sent"}';
  await waitFor(
    async () => (await scalar(sent)) === sink.stats().accepted,
    20_000,
    'Prometheus to see every delivery',
  );
  assert.equal(await scalar(sent), n);
  // increase() over a window covering all of it: the counter started at 0 on this node
  let increase = NaN;
  await waitFor(
    async () => (increase = await scalar(`sum(increase(${sent}[5m]))`)) >= n * 0.9,
    20_000,
    'increase()',
  );
  assert.ok(increase >= n * 0.9 && increase <= n * 1.5, `increase() ${increase} for ${n} deliveries`);
  const p99 = await scalar(
    'histogram_quantile(0.99, sum by (le) (rate(message_scheduler_delivery_lateness_seconds_bucket[5m])))',
  );
  assert.ok(Number.isFinite(p99) && p99 >= 0 && p99 <= 1, `lateness p99 ${p99} s`);
  const created = await scalar(
    'message_scheduler_api_requests_total{route="/messages",method="POST",status="201"}',
  );
  assert.equal(created, n);
  await waitFor(
    async () => (await scalar('sum(message_scheduler_messages{status="sent"})')) === n,
    20_000,
    'the store counts',
  );
  process.stdout.write(
    `# prometheus: ${sent} = ${n}; sum(increase(...[5m])) = ${increase.toFixed(1)}; lateness p99 = ${(p99 * 1000).toFixed(1)} ms; api 201s = ${created}\n`,
  );
});

test(
  'the Grafana dashboard and the documented alerts: valid PromQL, only metrics the service exports',
  { skip: !available },
  async () => {
    const { readFileSync } = await import('node:fs');
    const dashboard = JSON.parse(readFileSync('docs/grafana-dashboard.json', 'utf8')) as {
      panels: { title: string; targets: { expr: string }[] }[];
    };
    const full = readFileSync('docs/operations.md', 'utf8');
    const from = full.indexOf('## Observability');
    const readme = full.slice(from, full.indexOf('\n## ', from + 3));
    const alerts = [...readme.matchAll(/^- \*\*[^*]+:\*\* `([^`]+)`/gm)].map((m) => m[1] ?? '');
    assert.ok(alerts.length >= 4, 'docs/operations.md lists its example alerts');
    const exprs = [...dashboard.panels.flatMap((p) => p.targets.map((x) => x.expr)), ...alerts];
    const base = `http://127.0.0.1:${(t.app.server.server.address() as AddressInfo).port}`;
    const exported = await (
      await fetch(`${base}/metrics`, { headers: { authorization: `Bearer ${scraperKey}` } })
    ).text();
    for (const expr of exprs) {
      await query(expr); // asserts status success: Prometheus parsed and ran it
      for (const [name] of expr.matchAll(/message_scheduler_[a-z_]+/g)) {
        const family = name.replace(/_(bucket|count|sum)$/, '');
        assert.match(exported, new RegExp(`^# TYPE ${family} `, 'm'), `${expr}: ${name} is not exported`);
      }
    }
  },
);

test(
  "the exposition lints clean with Prometheus' own tool (promtool check metrics), the metrics listener's too",
  { skip: !available },
  async () => {
    const base = `http://127.0.0.1:${(t.app.server.server.address() as AddressInfo).port}`;
    const exported = await (
      await fetch(`${base}/metrics`, { headers: { authorization: `Bearer ${scraperKey}` } })
    ).text();
    assert.match(exported, /^# TYPE message_scheduler_deliveries_total counter/m);
    // promtool ships with Debian's prometheus package
    const lint = spawnSync('promtool', ['check', 'metrics'], { input: exported, encoding: 'utf8' });
    assert.equal(lint.status, 0, `promtool: ${lint.stdout}${lint.stderr}`);
  },
);
