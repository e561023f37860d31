import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { test } from 'node:test';
import { Sink } from '../bench/sink.js';
import { WebhookClient } from '../src/delivery/webhook-client.js';

const SECRET = 'whsec_' + Buffer.from('client-test-secret').toString('base64');
const request = { webhookId: 'msg_abc', to: '+905551234567', content: 'hello' };

function client(url: string, timeoutMs = 2000): WebhookClient {
  return new WebhookClient({ url, timeoutMs, signingSecrets: [SECRET], connections: 2 });
}

test('the webhook client: delivered, retryable with Retry-After, permanent, timeout, refused', async () => {
  // the project's sink, checking signatures, then the faults it can inject
  const ok = new Sink({ port: 0, secret: SECRET, keep: 10 });
  const throttled = new Sink({ port: 0, throttleRate: 1 });
  const failing = new Sink({ port: 0, failRate: 1 });
  const hanging = new Sink({ port: 0, timeoutRate: 1, hangMs: 1000 });
  const sinks = [ok, throttled, failing, hanging];
  const ports = await Promise.all(sinks.map((s) => s.start()));
  const url = (i: number): string => `http://127.0.0.1:${ports[i] ?? 0}/hook`;
  // a receiver answering 404 with a large body: permanent, and the body is cut to 200 characters
  const big = createServer((_req, res) => {
    res.writeHead(404, { 'content-type': 'text/plain' });
    res.end('x'.repeat(200_000));
  });
  await new Promise<void>((r) => big.listen(0, '127.0.0.1', r));
  const bigPort = (big.address() as AddressInfo).port;
  const clients: WebhookClient[] = [];
  const use = (c: WebhookClient): WebhookClient => (clients.push(c), c);
  try {
    const delivered = await use(client(url(0))).deliver(request);
    assert.equal(delivered.kind, 'delivered');
    assert.equal(delivered.statusCode, 202);
    assert.ok(delivered.kind === 'delivered' && /^[0-9a-f-]{36}$/.test(delivered.responseMessageId ?? ''));
    const seen = ok.deliveries()[0];
    assert.equal(seen?.signature_valid, true);
    assert.equal(seen?.webhook_id, 'msg_abc');
    assert.deepEqual([seen?.to, seen?.content], [request.to, request.content]);

    const slow = await use(client(url(1))).deliver(request);
    assert.deepEqual(slow.kind === 'retryable' && [slow.statusCode, slow.retryAfterMs, slow.maybeDelivered], [
      429,
      1000,
      false,
    ]);

    const failed = await use(client(url(2))).deliver(request);
    assert.deepEqual(
      failed.kind === 'retryable' && [failed.statusCode, failed.retryAfterMs, failed.maybeDelivered],
      [500, null, false],
    );

    const permanent = await use(client(`http://127.0.0.1:${bigPort}/hook`)).deliver(request);
    assert.equal(permanent.kind, 'permanent');
    assert.equal(permanent.kind === 'permanent' && permanent.error, `HTTP 404: ${'x'.repeat(200)}`);

    const timedOut = await use(client(url(3), 200)).deliver(request);
    assert.equal(timedOut.kind, 'retryable');
    assert.ok(
      timedOut.kind === 'retryable' && timedOut.error.startsWith('timeout'),
      JSON.stringify(timedOut),
    );
    assert.equal(timedOut.kind === 'retryable' && timedOut.maybeDelivered, true);

    // nothing listens there: nothing can have been delivered
    await ok.stop();
    const refused = await use(client(url(0))).deliver(request);
    assert.equal(refused.kind, 'retryable');
    assert.equal(refused.kind === 'retryable' && refused.maybeDelivered, false);
  } finally {
    await Promise.all(clients.map((c) => c.close()));
    await Promise.all(sinks.map((s) => s.stop()));
    await new Promise((r) => big.close(r));
  }
});

/** Receivers that misbehave on purpose: raw sockets, so nothing about the answer is polite. */
test('hostile receivers: the timeout bounds the whole exchange, reply bodies are read up to a cap', async () => {
  const { createServer: createTcp } = await import('node:net');
  const timers: NodeJS.Timeout[] = [];
  const drip = (prefix: string) =>
    createTcp((sock) => {
      sock.on('error', () => undefined);
      sock.once('data', () => {
        sock.write(prefix);
        // one byte every 100 ms, forever: no single read ever waits long
        const t = setInterval(() => sock.writable && sock.write('x'), 100);
        timers.push(t);
        sock.on('close', () => clearInterval(t));
      });
    });
  const dripBody = drip(
    'HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 100000\r\n\r\n',
  );
  const dripHeaders = drip('HTTP/1.1 200 OK\r\nx-slow: ');
  const flood = createServer((_req, res) => {
    // a 2xx whose body never ends, as fast as the socket takes it
    res.writeHead(200, { 'content-type': 'application/json' });
    const chunk = Buffer.alloc(64 * 1024, 'a');
    const pump = (): void => {
      while (res.write(chunk));
      res.once('drain', pump);
    };
    pump();
    res.on('close', () => res.removeAllListeners('drain'));
  });
  const ids = new Map<string, string>();
  const echo = createServer((req, res) => {
    res.writeHead(202, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ message: 'Accepted', messageId: ids.get(req.url ?? '') ?? 'x' }));
    ids.set('accept:' + (req.url ?? ''), String(req.headers.accept));
  });
  const servers = [dripBody, dripHeaders, flood, echo];
  await Promise.all(servers.map((s) => new Promise<void>((r) => s.listen(0, '127.0.0.1', () => r()))));
  const port = (i: number): number => (servers[i]?.address() as AddressInfo).port;
  const clients: WebhookClient[] = [];
  const use = (url: string, timeoutMs: number): WebhookClient => {
    const c = new WebhookClient({ url, timeoutMs, signingSecrets: [], connections: 2 });
    clients.push(c);
    return c;
  };
  try {
    for (const i of [0, 1]) {
      const t0 = Date.now();
      const r = await use(`http://127.0.0.1:${port(i)}/hook`, 1000).deliver(request);
      const took = Date.now() - t0;
      assert.ok(took >= 900 && took < 1600, `${i === 0 ? 'dripping body' : 'dripping headers'}: ${took} ms`);
      assert.equal(r.kind, 'retryable', JSON.stringify(r));
      assert.ok(
        r.kind === 'retryable' && r.error.startsWith('timeout') && r.maybeDelivered,
        JSON.stringify(r),
      );
    }

    const t0 = Date.now();
    const big = await use(`http://127.0.0.1:${port(2)}/hook`, 5000).deliver(request);
    assert.ok(Date.now() - t0 < 2000, `an endless body is not read on (${Date.now() - t0} ms)`);
    assert.equal(big.kind, 'delivered');
    assert.ok(big.kind === 'delivered' && big.responseMessageId === null && big.warning !== null);

    ids.set('/ok', 'a'.repeat(256));
    ids.set('/long', 'b'.repeat(257));
    ids.set('/huge', 'c'.repeat(60_000));
    const ok = await use(`http://127.0.0.1:${port(3)}/ok`, 2000).deliver(request);
    assert.ok(ok.kind === 'delivered' && ok.responseMessageId === 'a'.repeat(256));
    for (const path of ['/long', '/huge']) {
      const r = await use(`http://127.0.0.1:${port(3)}${path}`, 2000).deliver(request);
      assert.equal(r.kind, 'delivered', path);
      assert.ok(r.kind === 'delivered' && r.responseMessageId === null, `${path}: not stored`);
      assert.match(r.kind === 'delivered' ? (r.warning ?? '') : '', /at most 256/);
    }
    assert.equal(ids.get('accept:/ok'), 'application/json', "the original's Accept header");

    // a request still hanging is cut by close(grace): shutdown never waits on a receiver
    const hang = use(`http://127.0.0.1:${port(0)}/hook`, 60_000);
    const pending = hang.deliver(request);
    await new Promise((r) => setTimeout(r, 200));
    const c0 = Date.now();
    await hang.close(300);
    assert.ok(Date.now() - c0 < 1500, `close took ${Date.now() - c0} ms`);
    assert.equal((await pending).kind, 'retryable');
  } finally {
    timers.forEach(clearInterval);
    await Promise.all(clients.map((c) => c.close(100)));
    await Promise.all(
      servers.map(
        (s) =>
          new Promise<void>((r) => {
            (s as { closeAllConnections?: () => void }).closeAllConnections?.();
            s.close(() => r());
          }),
      ),
    );
  }
});

test('interim 1xx answers before the real one (100, 102, 103, several, split anywhere) are read past (RFC 9110 §15.2)', async () => {
  const { createServer: createTcp } = await import('node:net');
  const final = (id: string): string => {
    const body = JSON.stringify({ message: 'Accepted', messageId: id });
    return `HTTP/1.1 202 Accepted\r\ncontent-type: application/json\r\ncontent-length: ${body.length}\r\n\r\n${body}`;
  };
  const CONTINUE = 'HTTP/1.1 100 Continue\r\n\r\n';
  const PROCESSING = 'HTTP/1.1 102 Processing\r\n\r\n';
  const HINTS =
    'HTTP/1.1 103 Early Hints\r\nLink: </style.css>; rel=preload\r\nLink: </a.js>; rel=preload\r\n\r\n';
  // what the receiver writes, per path: the chunks, each written on its own turn
  const scripts: Record<string, (n: number) => string[]> = {
    '/100': (n) => [CONTINUE + final(`a${n}`)],
    '/102': (n) => [PROCESSING, final(`b${n}`)],
    '/103': (n) => [HINTS + final(`c${n}`)],
    '/all': (n) => [CONTINUE, HINTS + PROCESSING, CONTINUE + final(`d${n}`)],
    '/bytes': (n) => [...(CONTINUE + HINTS + final(`e${n}`))],
    '/split': (n) => [
      'HTTP/1.1 10',
      '0 Continue\r',
      '\n',
      '\r\nHTTP/1',
      '.1 202 Accepted\r\n' + final(`f${n}`).split('\r\n').slice(1).join('\r\n'),
    ],
    '/404': () => [CONTINUE + 'HTTP/1.1 404 Not Found\r\ncontent-length: 4\r\n\r\nnope'],
  };
  let served = 0;
  const server = createTcp((sock) => {
    sock.on('error', () => undefined);
    let buffered = '';
    sock.on('data', (d: Buffer) => {
      buffered += d.toString('latin1');
      // one answer per whole request (headers and the content-length body)
      for (;;) {
        const head = buffered.indexOf('\r\n\r\n');
        if (head < 0) return;
        const length = Number(/content-length: (\d+)/i.exec(buffered.slice(0, head))?.[1] ?? 0);
        if (buffered.length < head + 4 + length) return;
        const path = /^POST (\S+)/.exec(buffered)?.[1] ?? '';
        buffered = buffered.slice(head + 4 + length);
        const chunks = (scripts[path] ?? scripts['/100'] ?? (() => []))(served++);
        void (async () => {
          for (const c of chunks) {
            sock.write(c, 'latin1');
            await new Promise((r) => setTimeout(r, 1));
          }
        })();
      }
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const clients: WebhookClient[] = [];
  try {
    for (const path of ['/100', '/102', '/103', '/all', '/bytes', '/split']) {
      // one connection: every answer after the first comes on a kept-alive socket
      const c = new WebhookClient({ url: base + path, timeoutMs: 3000, signingSecrets: [], connections: 1 });
      clients.push(c);
      for (let i = 0; i < 3; i++) {
        const r = await c.deliver(request);
        assert.equal(r.kind, 'delivered', `${path} #${i}: ${JSON.stringify(r)}`);
        assert.ok(
          r.kind === 'delivered' && r.statusCode === 202 && /^[a-f]\d+$/.test(r.responseMessageId ?? ''),
          `${path}: ${JSON.stringify(r)}`,
        );
      }
    }
    const c = new WebhookClient({ url: base + '/404', timeoutMs: 3000, signingSecrets: [], connections: 1 });
    clients.push(c);
    const r = await c.deliver(request);
    assert.equal(r.kind, 'permanent', JSON.stringify(r));
    assert.equal(r.statusCode, 404);
  } finally {
    await Promise.all(clients.map((c) => c.close(100)));
    await new Promise<void>((r) => server.close(() => r()));
  }
});
