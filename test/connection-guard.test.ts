/**
 * Connections per client (src/http/connection-guard.ts): one client cannot hold the listener's
 * connections. Before: 4,097 keep-alive connections of one client sending GET /healthz now and
 * then held `api.maxConnections` (4,096), and every other connection, /healthz included, was
 * reset; the metrics listener had no cap at all. Other clients are other loopback addresses
 * (127.0.0.2, ...), which Linux routes like 127.0.0.1.
 */
import assert from 'node:assert/strict';
import { connect, type Socket } from 'node:net';
import { after, describe, test } from 'node:test';
import { testApp } from './helpers/app.js';
import { bucketKey, clientKey, isLoopbackAddress } from '../src/http/client-address.js';

test('clients by address: IPv4 as is, IPv4-mapped as IPv4, IPv6 by its /64, loopback one bucket', () => {
  assert.equal(clientKey('203.0.113.7'), '203.0.113.7');
  assert.equal(clientKey('::ffff:203.0.113.7'), '203.0.113.7');
  assert.equal(clientKey('2001:db8:1:2:3:4:5:6'), '2001:db8:1:2::/64');
  assert.equal(clientKey('2001:db8:1:2::9'), '2001:db8:1:2::/64');
  assert.equal(clientKey('2001:DB8:0001:0002:ffff::1'), '2001:db8:1:2::/64');
  assert.equal(clientKey('fe80::1%eth0'), 'fe80:0:0:0::/64');
  assert.equal(clientKey('::'), '0:0:0:0::/64');
  assert.equal(clientKey('64:ff9b::192.0.2.33'), '64:ff9b:0:0::/64');
  for (const a of ['127.0.0.1', '127.0.0.5', '127.255.0.1', '::1', '::ffff:127.0.0.2']) {
    assert.ok(isLoopbackAddress(a), a);
    assert.equal(bucketKey(a), 'loopback', a);
  }
  for (const a of ['128.0.0.1', '10.0.0.1', '::2', '0.0.0.0']) assert.ok(!isLoopbackAddress(a), a);
});

interface Held {
  socket: Socket;
  closed: boolean;
}

/** A connection from `from` that sends `request` and stays open; resolves once the answer's head is in (or at once). */
function open(port: number, from: string, request: string, waitAnswer: boolean): Promise<Held> {
  return new Promise((resolve) => {
    const socket = connect({ port, host: '127.0.0.1', localAddress: from });
    const held: Held = { socket, closed: false };
    socket.on('error', () => undefined);
    socket.on('close', () => {
      held.closed = true;
      resolve(held);
    });
    let got = '';
    socket.on('data', (d: Buffer) => {
      got += d.toString('latin1');
      if (waitAnswer && got.includes('\r\n\r\n')) resolve(held);
    });
    socket.on('connect', () => {
      socket.write(request);
      if (!waitAnswer) resolve(held);
    });
  });
}

/** GET `path` on a new connection from `from`: the status, or the error. */
async function probe(
  port: number,
  from: string,
  path = '/healthz',
): Promise<{ status: number | string; ms: number }> {
  const t0 = Date.now();
  return new Promise((resolve) => {
    const socket = connect({ port, host: '127.0.0.1', localAddress: from });
    let got = '';
    const done = (status: number | string) => {
      socket.destroy();
      resolve({ status, ms: Date.now() - t0 });
    };
    socket.setTimeout(5000, () => done('timeout'));
    socket.on('error', (e: NodeJS.ErrnoException) => done(e.code ?? 'error'));
    socket.on('close', () => done(got === '' ? 'closed' : Number(/^HTTP\/1\.1 (\d+)/.exec(got)?.[1] ?? 0)));
    socket.on('data', (d: Buffer) => {
      got += d.toString('latin1');
      if (got.includes('\r\n\r\n')) done(Number(/^HTTP\/1\.1 (\d+)/.exec(got)?.[1] ?? 0));
    });
    socket.on('connect', () => socket.write(`GET ${path} HTTP/1.1\r\nHost: localhost\r\n\r\n`));
  });
}

async function openMany(n: number, make: (i: number) => Promise<Held>, batch = 200): Promise<Held[]> {
  const out: Held[] = [];
  for (let i = 0; i < n; i += batch) {
    out.push(...(await Promise.all(Array.from({ length: Math.min(batch, n - i) }, (_, j) => make(i + j)))));
  }
  return out;
}

const HEALTHZ = 'GET /healthz HTTP/1.1\r\nHost: localhost\r\n\r\n';
/** A request whose body never finishes: the connection stays busy. */
const ENDLESS =
  'POST /messages HTTP/1.1\r\nHost: localhost\r\ncontent-type: application/json\r\ncontent-length: 1000000\r\n\r\n{"content":';

describe('connections per client', () => {
  const held: Held[] = [];
  after(() => held.forEach((h) => h.socket.destroy()));

  test('4,200 idle keep-alive connections of one client: it keeps 256, everyone else (the same address too) is answered', async () => {
    const { app, cleanup } = await testApp({ HOST: '127.0.0.1' });
    try {
      await app.server.listen({ port: 0, host: '127.0.0.1' });
      const port = (app.server.server.address() as { port: number }).port;
      const flood = await openMany(4200, () => open(port, '127.0.0.1', HEALTHZ, true));
      held.push(...flood);
      await new Promise((r) => setTimeout(r, 200));
      const stillOpen = flood.filter((h) => !h.closed).length;
      assert.ok(stillOpen <= 256, `the client keeps ${stillOpen} connections`);
      for (const from of ['127.0.0.2', '127.0.0.3', '127.0.0.1']) {
        const r = await probe(port, from);
        assert.equal(r.status, 200, `/healthz from ${from}: ${String(r.status)}`);
        assert.ok(r.ms < 2000, `/healthz from ${from} took ${r.ms} ms`);
      }
      const list = await probe(port, '127.0.0.4', '/messages?limit=1');
      assert.equal(list.status, 200);
      process.stdout.write(`# 4,200 idle connections from one client: ${stillOpen} kept open\n`);
    } finally {
      held.splice(0).forEach((h) => h.socket.destroy());
      await cleanup();
    }
  });

  test('busy connections (bodies that never end): one client is refused past its cap, others get in, at the total cap too', async () => {
    const { app, cleanup } = await testApp({
      HOST: '127.0.0.1',
      API_MAX_CONNECTIONS: '100',
      API_MAX_CONNECTIONS_PER_CLIENT: '20',
    });
    try {
      await app.server.listen({ port: 0, host: '127.0.0.1' });
      const port = (app.server.server.address() as { port: number }).port;
      const one = await openMany(60, () => open(port, '127.0.0.1', ENDLESS, false));
      held.push(...one);
      await new Promise((r) => setTimeout(r, 300));
      assert.ok(one.filter((h) => !h.closed).length <= 20, 'one client holds at most its cap');
      assert.equal((await probe(port, '127.0.0.2')).status, 200);
      // five clients fill the total cap with busy connections (20 each: 1 + 4 more)
      for (let c = 2; c <= 5; c++) {
        held.push(...(await openMany(20, () => open(port, `127.0.0.${10 + c}`, ENDLESS, false))));
      }
      await new Promise((r) => setTimeout(r, 300));
      const open100 = held.filter((h) => !h.closed).length;
      assert.ok(open100 <= 100, `${open100} open`);
      // a new client still gets in: the largest holder gives up its oldest
      const r = await probe(port, '127.0.0.99');
      assert.equal(r.status, 200, `a new client at the total cap: ${String(r.status)}`);
    } finally {
      held.splice(0).forEach((h) => h.socket.destroy());
      await cleanup();
    }
  });

  test('the metrics listener: 2 × 1,000 idle connections are capped; /metrics and the API still answer', async () => {
    const { app, cleanup } = await testApp({ HOST: '127.0.0.1', METRICS_LISTEN: '127.0.0.1:0' });
    try {
      await app.server.listen({ port: 0, host: '127.0.0.1' });
      const port = (app.server.server.address() as { port: number }).port;
      const mport = app.metricsServer?.address()?.port ?? 0;
      const metricsGet = 'GET /metrics HTTP/1.1\r\nHost: localhost\r\n\r\n';
      for (const from of ['127.0.0.1', '127.0.0.2']) {
        held.push(...(await openMany(1000, () => open(mport, from, metricsGet, true))));
      }
      await new Promise((r) => setTimeout(r, 200));
      const stillOpen = held.filter((h) => !h.closed).length;
      assert.ok(stillOpen <= 32, `${stillOpen} metrics connections open (16 per client)`);
      assert.equal((await probe(mport, '127.0.0.3', '/metrics')).status, 200);
      assert.equal((await probe(port, '127.0.0.3')).status, 200);
    } finally {
      held.splice(0).forEach((h) => h.socket.destroy());
      await cleanup();
    }
  });
});
