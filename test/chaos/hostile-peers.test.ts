/**
 * Hostile peers: a receiver that drips its answer a byte at a time, a receiver that answers
 * with a huge messageId, and clients that open requests and never finish them. Each scenario
 * runs the real service process and checks what a user would notice: deliveries continue,
 * nothing is left `processing`, /healthz answers, shutdown is prompt, the store stays small.
 */
import assert from 'node:assert/strict';
import { createServer as createHttp } from 'node:http';
import { connect, createServer as createTcp, type Server, type Socket } from 'node:net';
import type { AddressInfo } from 'node:net';
import { statSync } from 'node:fs';
import { before, describe, test } from 'node:test';
import { Agent, request } from 'undici';
import { Sink } from '../../bench/sink.js';
import { waitFor } from '../helpers/app.js';
import { fill, report, serve, services, target, type Service } from './helpers.js';

before(() => services('up'));

function listen(server: Server | ReturnType<typeof createHttp>): Promise<number> {
  return new Promise((resolve) =>
    server.listen(0, '127.0.0.1', () => resolve((server.address() as AddressInfo).port)),
  );
}

function closeServer(server: Server | ReturnType<typeof createHttp>, sockets: Set<Socket>): Promise<void> {
  for (const s of sockets) s.destroy();
  return new Promise((r) => server.close(() => r()));
}

describe('hostile peers', () => {
  test('a receiver that drips its answer: deliveries finish by the timeout, none stuck, shutdown prompt', async () => {
    // the first `dripFor` requests get headers and then one body byte a second, forever
    const dripFor = 6;
    let seen = 0;
    let accepted = 0;
    const sockets = new Set<Socket>();
    const timers = new Set<NodeJS.Timeout>();
    const receiver = createTcp((sock) => {
      sockets.add(sock);
      sock.on('close', () => sockets.delete(sock));
      sock.on('error', () => undefined);
      let buf = '';
      sock.on('data', (d: Buffer) => {
        buf += d.toString('latin1');
        // one request per connection is enough here: answer once the body has arrived
        const end = buf.indexOf('\r\n\r\n');
        const len = Number(/content-length: *(\d+)/i.exec(buf)?.[1] ?? 0);
        if (end < 0 || buf.length < end + 4 + len) return;
        buf = '';
        if (seen++ < dripFor) {
          sock.write(
            'HTTP/1.1 202 Accepted\r\ncontent-type: application/json\r\ncontent-length: 1000\r\n\r\n',
          );
          const t = setInterval(() => sock.writable && sock.write(' '), 1000);
          timers.add(t);
          sock.on('close', () => clearInterval(t));
        } else {
          accepted++;
          const body = JSON.stringify({ message: 'Accepted', messageId: `m-${accepted}` });
          sock.write(
            `HTTP/1.1 202 Accepted\r\ncontent-type: application/json\r\ncontent-length: ${body.length}\r\n\r\n${body}`,
          );
        }
      });
    });
    const port = await listen(receiver);
    const t = target('sqlite');
    const store = await t.open();
    let svc: Service | null = null;
    try {
      const n = 20;
      await fill(store, n);
      const t0 = Date.now();
      svc = await serve(
        {
          ...t.env,
          WEBHOOK_CLIENT_TIMEOUT: '2s',
          POOL_NUM_WORKERS: '2',
          RETRY_BASE_DELAY: '100ms',
          RETRY_MAX_DELAY: '200ms',
        },
        `http://127.0.0.1:${port}/hook`,
      );
      await waitFor(async () => (await store.countByStatus()).sent === n, 40_000, `all ${n} sent`);
      const seconds = (Date.now() - t0) / 1000;
      const counts = await store.countByStatus();
      assert.equal(counts.processing, 0);
      assert.equal(await svc.stop('SIGTERM'), 0);
      svc = null;

      // shutdown with both workers held by a dripping receiver: exit within pool.timeout + a margin
      seen = 0;
      await fill(store, 2);
      svc = await serve(
        {
          ...t.env,
          WEBHOOK_CLIENT_TIMEOUT: '30s',
          POOL_LEASE_TIMEOUT: '5m',
          POOL_NUM_WORKERS: '2',
          POOL_TIMEOUT: '1s',
        },
        `http://127.0.0.1:${port}/hook`,
      );
      await waitFor(async () => (await store.countByStatus()).processing === 2, 10_000, 'two held');
      await new Promise((r) => setTimeout(r, 500));
      const s0 = Date.now();
      const code = await svc.stop('SIGTERM');
      const shutdownMs = Date.now() - s0;
      svc = null;
      const after = await store.countByStatus();
      report('hostile-peers/dripping-receiver', {
        messages: n,
        seconds,
        dripped: dripFor,
        shutdown_ms: shutdownMs,
        after,
      });
      assert.equal(code, 0);
      assert.ok(shutdownMs < 1000 + 2500, `exited ${shutdownMs} ms after SIGTERM (pool.timeout 1 s)`);
      assert.equal(after.processing, 0, 'what did not finish was released');
      assert.ok(seconds < 30, `took ${seconds} s`);
    } finally {
      await svc?.stop('SIGKILL');
      timers.forEach(clearInterval);
      await store.close();
      await t.drop();
      await closeServer(receiver, sockets);
    }
  });

  test('a receiver that answers a 60 KB messageId: nothing of it is stored or listed', async () => {
    const huge = 'x'.repeat(60_000);
    const sockets = new Set<Socket>();
    const receiver = createHttp((req, res) => {
      req.resume();
      req.on('end', () => {
        res.writeHead(202, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ message: 'Accepted', messageId: huge }));
      });
    });
    receiver.on('connection', (s: Socket) => (sockets.add(s), s.on('close', () => sockets.delete(s))));
    const port = await listen(receiver);
    const t = target('sqlite');
    const store = await t.open();
    let svc: Service | null = null;
    try {
      const n = 2000;
      await fill(store, n);
      const dbBefore = statSync(t.env.SQLITE_PATH ?? '').size;
      svc = await serve({ ...t.env }, `http://127.0.0.1:${port}/hook`);
      await waitFor(async () => (await store.countByStatus()).sent === n, 60_000, `all ${n} sent`);
      const page = await fetch(`${svc.url}/sent-messages?limit=1000`);
      const text = await page.text();
      const rows = JSON.parse(text) as { webhook_response_message_id: string | null }[];
      const rss = svc.peakRssMb();
      assert.equal(await svc.stop('SIGTERM'), 0);
      svc = null;
      const db = ['', '-wal'].reduce((sum, f) => {
        try {
          return sum + statSync((t.env.SQLITE_PATH ?? '') + f).size;
        } catch {
          return sum;
        }
      }, 0);
      report('hostile-peers/huge-message-id', {
        messages: n,
        db_growth_mb: +((db - dbBefore) / 1e6).toFixed(1),
        sent_page_kb: Math.round(text.length / 1000),
        peak_rss_mb: rss,
      });
      assert.equal(rows.length, 1000);
      assert.ok(rows.every((m) => m.webhook_response_message_id === null));
      assert.ok(text.length < 1_000_000, `a page of 1000 is ${text.length} bytes`);
      assert.ok(db - dbBefore < 20e6, `the store grew ${db - dbBefore} bytes (60 KB × ${n} would be 120 MB)`);
    } finally {
      await svc?.stop('SIGKILL');
      await store.close();
      await t.drop();
      await closeServer(receiver, sockets);
    }
  });

  test('a flood of requests whose body never finishes: /healthz answers, deliveries go on, the sockets are cut', async () => {
    const sink = new Sink({ port: 0, keep: 0 });
    const sinkUrl = `http://127.0.0.1:${await sink.start()}/hook`;
    const t = target('sqlite');
    const store = await t.open();
    let svc: Service | null = null;
    const clients = new Set<Socket>();
    try {
      const n = 30_000;
      await fill(store, n);
      svc = await serve(
        {
          ...t.env,
          API_REQUEST_TIMEOUT: '3s',
          API_HEADERS_TIMEOUT: '2s',
          RATE_LIMITER_ENABLED: 'true',
          RATE_LIMITER_MAX_TOKENS: '100',
          RATE_LIMITER_REFILL_RATE: '100',
          RATE_LIMITER_REFILL_INTERVAL: '100ms',
        },
        sinkUrl,
      );
      const api = svc.port;
      // 2,000 connections, each a chunked POST that stops after its first chunk
      const flood = 2000;
      let closedByServer = 0;
      let connected = 0;
      let answered = 0;
      for (let i = 0; i < flood; i++) {
        const s = connect(api, '127.0.0.1', () =>
          s.write(
            'POST /messages HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n5\r\n{"con\r\n',
          ),
        );
        s.on('connect', () => connected++);
        s.on('data', () => answered++);
        s.on('error', () => undefined);
        s.on('close', () => {
          closedByServer++;
          clients.delete(s);
        });
        clients.add(s);
        if (i % 200 === 199) await new Promise((r) => setTimeout(r, 10));
      }
      // past api.maxConnectionsPerClient (256) the flooding address is refused at once; the
      // probes start once those refusals are through, while the 256 it holds still hang
      const held = 256;
      await waitFor(() => closedByServer >= flood - held, 10_000, 'the refusals past the per-client cap');
      const refusedAtOnce = closedByServer;
      const accepted0 = sink.stats().accepted;
      const latencies: number[] = [];
      // the probe is another client (127.0.0.2): the flooding address is held to its own cap
      // (api.maxConnectionsPerClient), and the probe of anyone else never waits behind it
      const probe = new Agent({ localAddress: '127.0.0.2' });
      for (let i = 0; i < 20; i++) {
        const h0 = performance.now();
        const r = await request(`http://127.0.0.1:${api}/healthz`, { dispatcher: probe });
        await r.body.text();
        assert.equal(r.statusCode, 200);
        latencies.push(performance.now() - h0);
        await new Promise((r) => setTimeout(r, 100));
      }
      await probe.close();
      const accepted1 = sink.stats().accepted;
      // the server cuts them at api.requestTimeout (3 s; checked every second)
      const cut0 = Date.now();
      while (closedByServer < flood && Date.now() - cut0 < 10_000)
        await new Promise((r) => setTimeout(r, 50));
      assert.equal(
        closedByServer,
        flood,
        `stuck requests cut by the server within 10 s (${connected} connected, ${answered} answered)`,
      );
      latencies.sort((a, b) => a - b);
      const p99 = latencies[latencies.length - 1] ?? 0;
      report('hostile-peers/slow-body-flood', {
        connections: flood,
        refused_at_once: refusedAtOnce,
        healthz_ms: { p50: +(latencies[10] ?? 0).toFixed(1), max: +p99.toFixed(1) },
        delivered_during_flood: accepted1 - accepted0,
      });
      assert.ok(p99 < 100, `/healthz took up to ${p99.toFixed(1)} ms under the flood`);
      assert.ok(accepted1 - accepted0 > 100, `deliveries during the flood: ${accepted1 - accepted0}`);
      assert.equal(await svc.stop('SIGTERM'), 0);
      svc = null;
    } finally {
      for (const s of clients) s.destroy();
      await svc?.stop('SIGKILL');
      await store.close();
      await t.drop();
      await sink.stop();
    }
  });
});
