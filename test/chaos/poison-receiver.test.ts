/**
 * A receiver whose answers no store can keep as written: a NUL in its messageId or in the error
 * body that becomes last_error, bytes that are not UTF-8, a lone surrogate, a 1 MB body and
 * 10,000-deep JSON. Before the fix one such answer stopped all delivery on PostgreSQL (the batch
 * that held its outcome was refused and went first in line again, forever). On every store,
 * 2,000 ordinary messages must all go through beside the poison, each once, and every poison
 * message must end sent or failed with text every store keeps (docs/decisions.md, "Text every
 * store keeps").
 */
import assert from 'node:assert/strict';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { before, describe, test } from 'node:test';
import type { StoreKind } from '../../src/config/config.js';
import { textProblem } from '../../src/domain/text.js';
import { waitFor } from '../helpers/app.js';
import { fill, logLines, report, serve, services, target, type Service } from './helpers.js';

before(() => services('up'));

const ORDINARY = 2000;
const DEEP = 10_000;

/** What the receiver answers to each poison content: status and raw body bytes. */
const POISON: Record<string, () => { status: number; body: Buffer }> = {
  'nul in messageId': () => json(202, '{"message":"Accepted","messageId":"ab\\u0000cd"}'),
  'raw nul in body': () => ({ status: 202, body: Buffer.from('{"messageId":"ab\u0000cd"}', 'latin1') }),
  'lone surrogate in messageId': () => json(202, '{"messageId":"x\\ud800y"}'),
  'not utf-8 messageId': () => ({
    status: 202,
    body: Buffer.concat([Buffer.from('{"messageId":"ab'), Buffer.from([0xff, 0xfe]), Buffer.from('"}')]),
  }),
  'encoded surrogate messageId': () => ({
    status: 202,
    body: Buffer.concat([
      Buffer.from('{"messageId":"ab'),
      Buffer.from([0xed, 0xa0, 0x80]),
      Buffer.from('"}'),
    ]),
  }),
  'nul in 500 body': () => json(500, 'boom\u0000boom'),
  'nul in 400 body': () => json(400, 'bad\u0000request'),
  'not utf-8 in 503 body': () => ({ status: 503, body: Buffer.from([0x62, 0xff, 0xfe, 0x00, 0x62]) }),
  '1 MB 2xx body': () => json(202, `{"messageId":"big","pad":"${'x'.repeat(1_000_000)}"}`),
  '1 MB 500 body': () => json(500, 'y'.repeat(1_000_000)),
  'deep 2xx JSON': () => json(202, '{"a":'.repeat(DEEP) + '1' + '}'.repeat(DEEP)),
  'deep 400 JSON': () => json(400, '['.repeat(DEEP) + ']'.repeat(DEEP)),
};

function json(status: number, text: string): { status: number; body: Buffer } {
  return { status, body: Buffer.from(text, 'utf8') };
}

interface Receiver {
  url: string;
  /** requests per content */
  seen: Map<string, number>;
  close(): Promise<void>;
}

async function receiver(): Promise<Receiver> {
  const seen = new Map<string, number>();
  const sockets = new Set<Socket>();
  let ids = 0;
  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const { content } = JSON.parse(Buffer.concat(chunks).toString('utf8')) as { content: string };
      seen.set(content, (seen.get(content) ?? 0) + 1);
      const poison = POISON[content];
      const { status, body } = poison
        ? poison()
        : json(202, `{"message":"Accepted","messageId":"id-${ids++}"}`);
      res.writeHead(status, { 'content-type': 'application/json', 'content-length': body.length });
      res.end(body);
    });
  });
  server.on('connection', (s: Socket) => (sockets.add(s), s.on('close', () => sockets.delete(s))));
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/hook`,
    seen,
    close: () => {
      for (const s of sockets) s.destroy();
      return new Promise((r) => server.close(() => r()));
    },
  };
}

describe('a receiver whose answers no store keeps as written', () => {
  for (const kind of ['sqlite', 'postgres', 'mongodb'] as StoreKind[]) {
    test(`${kind}: 2,000 ordinary messages all go through beside the poison; the poison ends sent or failed, stored safely`, async () => {
      const rx = await receiver();
      const t = target(kind);
      const store = await t.open();
      let svc: Service | null = null;
      const poisonNames = Object.keys(POISON);
      try {
        // the poison first in line (higher priority), so every claim round meets it
        await fill(store, poisonNames.length, (i) => ({
          content: poisonNames[i] ?? '',
          recipient_phone_number: '+1',
          priority: 9,
        }));
        await fill(store, ORDINARY);
        const t0 = Date.now();
        svc = await serve(
          { ...t.env, RETRY_MAX_ATTEMPTS: '2', RETRY_BASE_DELAY: '50ms', RETRY_MAX_DELAY: '200ms' },
          rx.url,
        );
        const total = ORDINARY + poisonNames.length;
        await waitFor(
          async () => {
            const c = await store.countByStatus();
            return c.sent + c.failed === total;
          },
          120_000,
          `all ${total} messages sent or failed`,
        );
        const seconds = (Date.now() - t0) / 1000;
        const counts = await store.countByStatus();
        const lines = logLines(svc);
        assert.equal(await svc.stop('SIGTERM'), 0);
        svc = null;

        // every ordinary message reached the receiver once and is stored sent with its id
        const ordinarySeen = [...rx.seen].filter(([c]) => !(c in POISON));
        assert.equal(ordinarySeen.length, ORDINARY);
        assert.ok(
          ordinarySeen.every(([, n]) => n === 1),
          'no ordinary message was sent twice',
        );
        // each poison message ended, with text every store keeps
        const poisonRows = (await store.list({ order: 'created', limit: total + 10 })).items.filter(
          (m) => m.content in POISON,
        );
        assert.equal(poisonRows.length, poisonNames.length);
        const ends: Record<string, string> = {};
        for (const m of poisonRows) {
          ends[m.content] = m.status;
          assert.ok(m.status === 'sent' || m.status === 'failed', `${m.content}: ${m.status}`);
          assert.equal(
            m.webhook_response_message_id === null || m.webhook_response_message_id === 'big',
            true,
            `${m.content}: no changed messageId is stored (${JSON.stringify(m.webhook_response_message_id)})`,
          );
          for (const text of [m.last_error, ...(await store.attempts(m.id)).map((a) => a.error)]) {
            if (text !== null) assert.equal(textProblem(text), null, `${m.content}: stored text ${text}`);
          }
        }
        assert.equal(ends['nul in messageId'], 'sent');
        assert.equal(ends['nul in 500 body'], 'failed');
        assert.equal(ends['deep 400 JSON'], 'failed');
        // no round failed on a value, and the store never refused one
        const failedRounds = lines.filter((l) => /round failed|refused/.test(l.msg ?? ''));
        assert.deepEqual(
          failedRounds.map((l) => l.msg),
          [],
        );
        report(`poison-receiver/${kind}`, {
          ordinary: ORDINARY,
          poison: poisonNames.length,
          seconds: +seconds.toFixed(1),
          sent: counts.sent,
          failed: counts.failed,
          requests_seen: [...rx.seen.values()].reduce((a, b) => a + b, 0),
        });
      } finally {
        await svc?.stop('SIGKILL');
        await store.close();
        await t.drop();
        await rx.close();
      }
    });
  }
});
