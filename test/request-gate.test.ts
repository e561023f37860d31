/**
 * The request gate (api.maxConcurrentRequests): on an `all` node whose pool
 * runs, at most N API requests are worked on at once; the others wait their
 * turn, probes never wait, and a client that goes away (waiting or held) gives
 * its place back.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { connect, type Socket } from 'node:net';
import type { AddressInfo } from 'node:net';
import Fastify, { type FastifyInstance } from 'fastify';
import { gateOf, installGate, RequestGate } from '../src/api/request-gate.js';
import { testApp, waitFor } from './helpers/app.js';

describe('RequestGate', () => {
  test('admits `limit` at once, then first come first served; release wakes the next', async () => {
    const gate = new RequestGate(2);
    const a = gate.take();
    const b = gate.take();
    assert.equal(a.ready, undefined);
    assert.equal(b.ready, undefined);
    const order: string[] = [];
    const c = gate.take();
    const d = gate.take();
    void c.ready?.then(() => order.push('c'));
    void d.ready?.then(() => order.push('d'));
    assert.deepEqual(gate.load, { active: 2, waiting: 2 });
    a.release();
    // a turn is given after the event loop's pending I/O (setImmediate)
    await new Promise((r) => setImmediate(r));
    assert.deepEqual(order, ['c']);
    assert.deepEqual(gate.load, { active: 2, waiting: 1 });
    a.release(); // a second release of the same turn changes nothing
    assert.deepEqual(gate.load, { active: 2, waiting: 1 });
    b.release();
    await new Promise((r) => setImmediate(r));
    assert.deepEqual(order, ['c', 'd']);
    c.release();
    d.release();
    assert.deepEqual(gate.load, { active: 0, waiting: 0 });
  });

  test('a waiter that leaves before its turn takes no place', async () => {
    const gate = new RequestGate(1);
    const a = gate.take();
    const b = gate.take();
    const c = gate.take();
    b.release(); // gone while waiting
    assert.deepEqual(gate.load, { active: 1, waiting: 1 });
    await b.ready; // its hook goes on (and finds the socket closed)
    a.release();
    await c.ready;
    assert.deepEqual(gate.load, { active: 1, waiting: 0 });
    c.release();
    assert.deepEqual(gate.load, { active: 0, waiting: 0 });
  });

  test('while the bound does not apply (pool paused), nobody waits', () => {
    let delivering = false;
    const gate = new RequestGate(1, () => delivering);
    const turns = Array.from({ length: 5 }, () => gate.take());
    assert.ok(turns.every((t) => t.ready === undefined));
    delivering = true;
    const late = gate.take();
    assert.notEqual(late.ready, undefined);
    for (const t of turns) t.release();
    assert.deepEqual(gate.load, { active: 1, waiting: 0 });
    late.release();
  });
});

describe('RequestGate: work shared fairly between clients', () => {
  test('a client has at most perClient at once, always; its others wait while other clients go at once', async () => {
    const gate = new RequestGate(Infinity, () => false, 2);
    const a = [gate.take('a'), gate.take('a'), gate.take('a'), gate.take('a')];
    assert.equal(a[0]?.ready, undefined);
    assert.equal(a[1]?.ready, undefined);
    assert.notEqual(a[2]?.ready, undefined, "a's third waits");
    const b = gate.take('b');
    assert.equal(b.ready, undefined, 'another client goes at once');
    assert.deepEqual(gate.load, { active: 3, waiting: 2 });
    a[0]?.release();
    await a[2]?.ready;
    assert.deepEqual(gate.load, { active: 3, waiting: 1 });
    for (const t of [...a, b]) t?.release();
    assert.deepEqual(gate.load, { active: 0, waiting: 0 });
  });

  test('at the total bound, waiting requests are served client by client in turn, not first come', async () => {
    const gate = new RequestGate(1, () => true, 10);
    const held = gate.take('x');
    const order: string[] = [];
    // client a queues five before b and c queue one each; each, once its turn comes, finishes
    for (const c of ['a', 'a', 'a', 'a', 'a', 'b', 'c']) {
      const t = gate.take(c);
      void t.ready?.then(() => {
        order.push(c);
        setImmediate(() => t.release());
      });
    }
    held.release();
    await waitFor(() => order.length === 7, 2000, 'every turn');
    assert.deepEqual(order, ['a', 'b', 'c', 'a', 'a', 'a', 'a']);
    assert.deepEqual(gate.load, { active: 0, waiting: 0 });
  });
});

/** The hooks over real HTTP, on a bare Fastify app whose handler waits until the test lets it go. */
describe('installGate', () => {
  let app: FastifyInstance;
  let port = 0;
  const gate = new RequestGate(1);
  let letGo: () => void = () => undefined;
  before(async () => {
    app = Fastify();
    installGate(app, gate, new Set(['/probe']));
    app.post('/slow', async () => {
      await new Promise<void>((r) => (letGo = r));
      return { ok: true };
    });
    app.get('/fast', async () => ({ ok: true }));
    app.get('/probe', async () => ({ ok: true }));
    await app.listen({ port: 0, host: '127.0.0.1' });
    port = (app.server.address() as AddressInfo).port;
  });
  after(() => app.close());

  const call = (method: string, path: string, body?: string): Promise<number> =>
    fetch(`http://127.0.0.1:${port}${path}`, {
      method,
      ...(body ? { body, headers: { 'content-type': 'application/json' } } : {}),
      signal: AbortSignal.timeout(5000),
    }).then((r) => r.status);

  test('a request in its handler holds the place: the next waits, probes do not; its answer gives it back', async () => {
    const slow = call('POST', '/slow', '{}');
    await waitFor(() => gate.load.active === 1, 2000, 'the slow request to hold its place');
    let fastDone = false;
    const fast = call('GET', '/fast').then((s) => ((fastDone = true), s));
    await waitFor(() => gate.load.waiting === 1, 2000, 'the fast request to wait');
    assert.equal(await call('GET', '/probe'), 200);
    assert.equal(fastDone, false);
    letGo();
    assert.equal(await slow, 200);
    assert.equal(await fast, 200);
    // places come back after the event loop's next pass
    await waitFor(() => gate.load.active === 0 && gate.load.waiting === 0, 2000, 'every place back');
  });

  test('a body that never completes holds no place (slow loris)', async () => {
    const s = raw(
      port,
      'POST /slow HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 50\r\n\r\n{"a',
    );
    await new Promise((r) => setTimeout(r, 200));
    assert.equal(await call('GET', '/fast'), 200);
    assert.deepEqual(gate.load, { active: 0, waiting: 0 });
    s.destroy();
  });

  test('clients that go away, while held or while waiting, give their place back', async () => {
    const held = raw(
      port,
      'POST /slow HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}',
    );
    await waitFor(() => gate.load.active === 1, 2000, 'the held request');
    const waiter = raw(port, 'GET /fast HTTP/1.1\r\nHost: x\r\n\r\n');
    await waitFor(() => gate.load.waiting === 1, 2000, 'the waiting request');
    waiter.destroy();
    await waitFor(() => gate.load.waiting === 0, 2000, 'the waiter to leave the queue');
    held.destroy();
    await waitFor(() => gate.load.active === 0, 2000, 'the held place to be given back');
    letGo(); // the abandoned handler finishes
    assert.equal(await call('GET', '/fast'), 200);
  });
});

/** Raw bytes on a socket that the test closes. */
function raw(port: number, bytes: string): Socket {
  const s = connect(port, '127.0.0.1', () => s.write(bytes));
  s.on('error', () => undefined);
  return s;
}

describe('api.maxConcurrentRequests in the service', () => {
  test('an all node bounds its API while it delivers; an api node does not; a stuck body holds nothing', async () => {
    const all = await testApp({ API_MAX_CONCURRENT_REQUESTS: '3', API_AUTH: 'none' });
    const api = await testApp({ API_MAX_CONCURRENT_REQUESTS: '3', API_AUTH: 'none', NODE_ROLE: 'api' });
    try {
      assert.equal(gateOf(all.app.server)?.limit, 3);
      // an api node bounds each client, never the total
      assert.equal(gateOf(api.app.server)?.limit, Infinity);
      assert.equal(gateOf(api.app.server)?.perClient, 4);
      await all.app.server.listen({ port: 0, host: '127.0.0.1' });
      const port = (all.app.server.server.address() as AddressInfo).port;
      const base = `http://127.0.0.1:${port}`;
      const put = await fetch(`${base}/worker-pool/state`, {
        method: 'PUT',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ action: 'start' }),
      });
      assert.equal(put.status, 200);
      const stuck = Array.from({ length: 5 }, () =>
        raw(
          port,
          'POST /messages HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{"con',
        ),
      );
      await new Promise((r) => setTimeout(r, 200));
      const r = await fetch(`${base}/messages?limit=1`, { signal: AbortSignal.timeout(3000) });
      assert.equal(r.status, 200, 'five dripping bodies do not hold the three places');
      for (const s of stuck) s.destroy();
    } finally {
      await all.cleanup();
      await api.cleanup();
    }
  });
});
