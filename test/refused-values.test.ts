/**
 * A row a store refuses holds back nothing else (docs/decisions.md). Each store refuses a value
 * of its own for real: PostgreSQL a NUL in text (what a receiver's messageId once carried),
 * MongoDB a document over 16 MiB, SQLite (which keeps any text) a trigger the test adds. The
 * outcome batch holding it is set apart and written one outcome at a time: the others are
 * stored, the refused one is stored without the receiver's texts, and one the store refuses even
 * so is dropped and left to lease recovery; in the worker pool, no round fails and no other
 * delivery waits for it.
 */
import { clockWithNow } from '../src/domain/clock.js';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { Writable } from 'node:stream';
import Database from 'better-sqlite3';
import pino from 'pino';
import pg from 'pg';
import { mongoFactory, serviceUrl, uniqueName } from './helpers/services.js';
import { silentLogger } from '../src/logging/logger.js';
import { OutcomeBuffer, REFUSED_TEXT_NOTE, type PendingOutcome } from '../src/worker/outcome-buffer.js';
import { WorkerPool } from '../src/worker/worker-pool.js';
import { UnlimitedRateLimiter } from '../src/ratelimit/delivery-limiter.js';
import type { Deliverer, DeliveryResult } from '../src/delivery/webhook-client.js';
import type { ClaimedMessage, Completion, MessageStore } from '../src/store/store.js';
import { isRefusedValue } from '../src/store/store-errors.js';

const NOW = Date.UTC(2026, 0, 1);

/** A store, the outcome text it refuses, and a way to make it refuse every outcome of one message. */
interface RefusingStore {
  store: MessageStore;
  /** a receiver messageId / error text this store refuses */
  poison: string;
  /** makes the store refuse any outcome of message `id`, even one without outside text (null: cannot) */
  refuseAll: ((id: string) => Promise<void>) | null;
  drop(): Promise<void>;
}

async function sqlite(): Promise<RefusingStore> {
  const { SqliteStore } = await import('../src/store/sqlite/sqlite-store.js');
  const dir = mkdtempSync(join(tmpdir(), 'ms-refused-'));
  const path = join(dir, 'messages.db');
  const store = new SqliteStore({ path });
  await store.init();
  // SQLite keeps any text: it refuses this one through a trigger, as a CHECK or a bug would
  const db = new Database(path);
  db.exec(`CREATE TRIGGER refuse_poison BEFORE UPDATE ON messages
    WHEN instr(NEW.webhook_response_message_id, 'poison') > 0 OR instr(NEW.last_error, 'poison') > 0
    BEGIN SELECT RAISE(ABORT, 'poison refused'); END`);
  return {
    store,
    poison: 'poison',
    async refuseAll(id) {
      db.exec(`CREATE TRIGGER refuse_one BEFORE UPDATE ON messages
        WHEN NEW.id = '${id}' AND NEW.status <> 'processing' BEGIN SELECT RAISE(ABORT, 'refused'); END`);
    },
    async drop() {
      db.close();
      await store.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

async function postgres(url: string): Promise<RefusingStore> {
  const { PostgresStore } = await import('../src/store/postgres/postgres-store.js');
  const schema = uniqueName('refused');
  const store = new PostgresStore({ connectionString: url, schema });
  await store.init();
  return {
    store,
    // PostgreSQL refuses U+0000 in text: 22021 invalid byte sequence for encoding "UTF8": 0x00
    poison: 'ab\u0000cd',
    async refuseAll(id) {
      const c = new pg.Client({ connectionString: url });
      await c.connect();
      await c.query(`SET search_path = "${schema}"`);
      await c.query(`CREATE FUNCTION refuse_one() RETURNS trigger AS $$ BEGIN
          IF NEW.id = '${id}' AND NEW.status <> 'processing' THEN
            RAISE EXCEPTION 'refused' USING ERRCODE = '22023'; END IF;
          RETURN NEW; END $$ LANGUAGE plpgsql`);
      await c.query(
        'CREATE TRIGGER refuse_one BEFORE UPDATE ON messages FOR EACH ROW EXECUTE FUNCTION refuse_one()',
      );
      await c.end();
    },
    async drop() {
      await store.dropSchema();
      await store.close();
    },
  };
}

async function mongodb(): Promise<RefusingStore> {
  const { store, drop } = await mongoFactory().create();
  // MongoDB keeps NULs; what it refuses is a document over 16 MiB
  return { store, poison: 'p'.repeat(17_000_000), refuseAll: null, drop };
}

/** `refusesAll`: the store can be made to refuse an outcome without outside text (a trigger; not FerretDB v1) */
const stores: { name: string; available: boolean; refusesAll: boolean; open(): Promise<RefusingStore> }[] = [
  { name: 'sqlite', available: true, refusesAll: true, open: sqlite },
  (() => {
    const url = serviceUrl('DATABASE_URL');
    return { name: 'postgres', available: url !== null, refusesAll: true, open: () => postgres(url ?? '') };
  })(),
  (() => ({ name: 'mongodb', available: mongoFactory().available, refusesAll: false, open: mongodb }))(),
];

async function claimed(store: MessageStore, n: number): Promise<ClaimedMessage[]> {
  await store.create(
    Array.from({ length: n }, (_, i) => ({ content: `m${i}`, recipient_phone_number: '+1' })),
    new Date(NOW),
  );
  return store.claim({ owner: 'node-a', limit: n, now: new Date(NOW), leaseMs: 60_000 });
}

function sent(
  message: ClaimedMessage,
  responseId: string | null,
  attemptError: string | null,
): PendingOutcome {
  const completion: Completion = {
    id: message.id,
    owner: 'node-a',
    outcome: { kind: 'sent', webhookResponseMessageId: responseId, sentAt: new Date(NOW) },
    attempt: {
      message_id: message.id,
      attempt: 1,
      started_at: new Date(NOW),
      latency_ms: 3,
      status_code: 202,
      error: attemptError,
      outcome: 'sent',
    },
  };
  return { message, completion };
}

for (const kind of stores) {
  describe(`${kind.name}: a row the store refuses holds back nothing else`, { skip: !kind.available }, () => {
    test('a refused batch is set apart: the others are stored, the refused one without outside text', async () => {
      const s = await kind.open();
      try {
        const messages = await claimed(s.store, 20);
        const poisoned = messages[7] as ClaimedMessage;
        const failing = messages[12] as ClaimedMessage;
        const stored: string[] = [];
        const buffer = new OutcomeBuffer({
          store: s.store,
          clock: clockWithNow(() => NOW),
          logger: silentLogger(),
          onStored: (_batch, applied) => stored.push(...applied),
          giveUp: () => false,
          flushAfterMs: 60_000,
          retryAfterMs: 10,
        });
        for (const m of messages) {
          if (m === poisoned) buffer.add(sent(m, s.poison, null));
          else if (m === failing) {
            buffer.add({
              message: m,
              completion: {
                id: m.id,
                owner: 'node-a',
                outcome: { kind: 'failed', error: s.poison },
                attempt: null,
              },
            });
          } else buffer.add(sent(m, `id-${m.id}`, null));
        }
        // a claim round takes them with its claim, and the store refuses the whole call
        const batch = buffer.take();
        const refused = await s.store
          .completeAndClaim(
            batch.map((b) => b.completion),
            { owner: 'node-a', limit: 5, now: new Date(NOW), leaseMs: 60_000 },
            new Date(NOW),
          )
          .then(
            () => null,
            (err: unknown) => err,
          );
        assert.ok(refused !== null, 'the store refused the batch');
        assert.ok(isRefusedValue(refused), `classified as a refused value: ${String(refused)}`);
        buffer.putBack(batch, refused);
        buffer.written(batch);
        assert.equal(buffer.unstored, 20, 'set apart, not lost');
        await buffer.flush();
        buffer.cancelTimer();
        assert.equal(buffer.unstored, 0);
        assert.equal(stored.length, 20, 'every outcome stored');
        const counts = await s.store.countByStatus();
        assert.equal(counts.sent, 19);
        assert.equal(counts.failed, 1);
        const p = await s.store.get(poisoned.id);
        assert.equal(p?.status, 'sent');
        assert.equal(p?.webhook_response_message_id, null);
        const f = await s.store.get(failing.id);
        assert.equal(f?.last_error, REFUSED_TEXT_NOTE);
        const ok = await s.store.get((messages[0] as ClaimedMessage).id);
        assert.equal(ok?.webhook_response_message_id, `id-${(messages[0] as ClaimedMessage).id}`);
      } finally {
        await s.drop();
      }
    });

    // FerretDB v1 has no triggers or validators: nothing makes it refuse an outcome without outside text
    const refusesAll = kind.refusesAll ? test : () => undefined;
    refusesAll(
      'an outcome refused even without outside text is dropped, logged, and left to lease recovery',
      async () => {
        const s = await kind.open();
        try {
          const refuseAll = s.refuseAll;
          assert.ok(refuseAll);
          const messages = await claimed(s.store, 5);
          const doomed = messages[2] as ClaimedMessage;
          await refuseAll(doomed.id);
          const lines: string[] = [];
          const logger = pino(
            { level: 'error' },
            new Writable({
              write(chunk: Buffer, _enc, done) {
                lines.push((JSON.parse(chunk.toString()) as { msg: string }).msg);
                done();
              },
            }),
          );
          const buffer = new OutcomeBuffer({
            store: s.store,
            clock: clockWithNow(() => NOW),
            logger,
            onStored: () => undefined,
            giveUp: () => false,
            flushAfterMs: 60_000,
            retryAfterMs: 10,
          });
          for (const m of messages) buffer.add(sent(m, `id-${m.id}`, null));
          await buffer.flush();
          buffer.cancelTimer();
          assert.equal(buffer.unstored, 0, 'nothing waits forever');
          assert.equal((await s.store.countByStatus()).sent, 4);
          assert.equal((await s.store.get(doomed.id))?.status, 'processing', 'its lease is recovered later');
          assert.deepEqual(lines, [
            'the store refuses the outcome of this message; it is left to lease recovery',
          ]);
        } finally {
          await s.drop();
        }
      },
    );

    test('the worker pool: no round fails, every other message is delivered', async () => {
      const s = await kind.open();
      try {
        await s.store.create(
          Array.from({ length: 120 }, (_, i) => ({ content: `m${i}`, recipient_phone_number: '+1' })),
          new Date(NOW),
        );
        // the deliverer is the seam to the receiver, the only fake: every message is accepted
        const deliverer: Deliverer = {
          async deliver(req): Promise<DeliveryResult> {
            return {
              kind: 'delivered',
              statusCode: 202,
              responseMessageId: `ok-${req.webhookId}`,
              warning: null,
            };
          },
          async close() {},
        };
        const pool = new WorkerPool({
          store: s.store,
          deliverer,
          limiter: new UnlimitedRateLimiter(),
          retry: { maxAttempts: 3, baseDelayMs: 10, maxDelayMs: 100 },
          owner: 'node-a',
          numWorkers: 8,
          leaseMs: 60_000,
          pollIntervalMs: 10,
          initialState: 'running',
          logger: silentLogger(),
          clock: clockWithNow(() => NOW),
        });
        let failedRounds = 0;
        pool.events.on('roundFailed', () => failedRounds++);
        // the store refuses this message's outcome as written (the pool cleans NUL and surrogates
        // from what deliverers answer; a trigger or a size limit is refused all the same)
        const [victim] = (await s.store.list({ order: 'created', limit: 1 })).items;
        assert.ok(victim);
        if (s.refuseAll) {
          await s.refuseAll(victim.id);
        }
        for (let i = 0; i < 200 && (await s.store.countByStatus()).sent < 119; i++) {
          await pool.tick();
          await pool.flush();
        }
        await pool.stop(1000);
        const counts = await s.store.countByStatus();
        if (s.refuseAll) {
          assert.equal(counts.sent, 119, 'all the others delivered and stored');
          assert.equal(failedRounds, 0, 'no round failed on the refused value');
        } else assert.equal(counts.sent, 120);
      } finally {
        await s.drop();
      }
    });
  });
}
