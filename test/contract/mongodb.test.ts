import assert from 'node:assert/strict';
import { test } from 'node:test';
import { MongoClient } from 'mongodb';
import { mongoFactory, serviceUrl, uniqueName } from '../helpers/services.js';
import { storeContract } from './store-contract.js';
import { keyStoreContract } from './key-store-contract.js';
import { controlStoreContract } from './control-store-contract.js';
import { destinationStoreContract } from './destination-store-contract.js';
import { scheduleStoreContract } from './schedule-store-contract.js';
import { messageDestinationContract } from './message-destination-contract.js';
import { destinationHealthContract } from './destination-health-contract.js';
import { dashboardContract } from './dashboard-contract.js';
import { MongoStore } from '../../src/store/mongo/mongo-store.js';

const factory = mongoFactory();
storeContract(factory);
keyStoreContract(factory);
controlStoreContract(factory);
destinationStoreContract(factory);
scheduleStoreContract(factory);
messageDestinationContract(factory);
destinationHealthContract(factory);
dashboardContract(factory);

const url = serviceUrl('MONGODB_URI');
test(
  'MongoDB: a fence left by a writer that died between fence and update does not block the message',
  { skip: url === null && 'MONGODB_URI not configured' },
  async () => {
    const dbName = uniqueName('t');
    const store = new MongoStore({ uri: url ?? '', dbName, collection: 'messages' });
    const raw = new MongoClient(url ?? '');
    try {
      await store.init();
      const [r] = await store.create([{ content: 'stuck?', recipient_phone_number: '+1' }], new Date());
      const id = r?.message.id ?? '';
      const doc = await raw
        .db(dbName)
        .collection('messages')
        .findOne({}, { projection: { version: 1 } });
      const version = Number(doc?.version);
      // what a claimer killed after its fence insert leaves behind: a fence for the next version
      const fences = raw.db(dbName).collection<{ _id: string; at: Date }>('messages_fences');
      await fences.insertOne({ _id: `${id}:${version + 1}`, at: new Date() });
      assert.deepEqual(
        await store.claim({ owner: 'w', limit: 1, now: new Date(), leaseMs: 60_000 }),
        [],
        'a fresh fence wins',
      );
      await fences.updateOne(
        { _id: `${id}:${version + 1}` },
        { $set: { at: new Date(Date.now() - 60_000) } },
      );
      const claimed = await store.claim({ owner: 'w', limit: 1, now: new Date(), leaseMs: 60_000 });
      assert.deepEqual(
        claimed.map((m) => m.id),
        [id],
        'a stale fence is skipped',
      );
      assert.deepEqual(
        await store.complete(
          [
            {
              id,
              owner: 'w',
              outcome: { kind: 'sent', webhookResponseMessageId: null, sentAt: new Date() },
              attempt: null,
            },
          ],
          new Date(),
        ),
        [id],
      );
    } finally {
      await store.dropDatabase();
      await store.close();
      await raw.close();
    }
  },
);

/**
 * A collection the Go original wrote, exactly as it writes it: its seeding inserts the JSON
 * as it is (times as RFC 3339 strings, Go's zero time for "not sent"); its driver writes BSON
 * dates; a failed delivery adds `err`. This store takes it over: lists it, gets each message,
 * and delivers the unsent ones; a document it cannot read is reported and left out.
 */
test(
  "MongoDB: the original's documents (string and BSON times, zero times, err) are listed, read and delivered",
  { skip: url === null && 'MONGODB_URI not configured' },
  async () => {
    const { ObjectId } = await import('mongodb');
    const { Sink } = await import('../../bench/sink.js');
    const { testApp, waitFor } = await import('../helpers/app.js');
    const pino = (await import('pino')).default;
    const { Writable } = await import('node:stream');
    const dbName = uniqueName('t');
    const raw = new MongoClient(url ?? '');
    const col = raw.db(dbName).collection('messages');
    const zero = new Date('0001-01-01T00:00:00Z');
    const ids = Array.from({ length: 9 }, () => new ObjectId());
    await col.insertMany([
      // as the original's seeding writes them (strings)
      {
        _id: ids[0],
        webhook_response_message_id: '',
        content: 'seeded unsent',
        recipient_phone_number: '+905553333333',
        status: 'unsent',
        created_at: '2025-03-01T10:00:00Z',
        sent_at: '0001-01-01T00:00:00Z',
      },
      {
        _id: ids[1],
        webhook_response_message_id: 'resp-1',
        content: 'seeded sent',
        recipient_phone_number: '+905551111111',
        status: 'sent',
        created_at: '2025-03-01T08:00:00Z',
        sent_at: '2025-03-01T08:00:05Z',
      },
      {
        _id: ids[2],
        webhook_response_message_id: '',
        content: 'seeded failed',
        recipient_phone_number: '+905552222222',
        status: 'failed',
        created_at: '2025-03-01T09:00:00+03:00',
        sent_at: '0001-01-01T00:00:00Z',
        err: 'webhook returned 500',
      },
      // as its driver writes them (BSON dates)
      {
        _id: ids[3],
        webhook_response_message_id: '',
        content: 'driver unsent',
        recipient_phone_number: '+905554444444',
        status: 'unsent',
        created_at: new Date('2025-03-02T10:00:00Z'),
        sent_at: zero,
      },
      {
        _id: ids[4],
        webhook_response_message_id: 'resp-4',
        content: 'driver sent',
        recipient_phone_number: '+905555555555',
        status: 'sent',
        created_at: new Date('2025-03-02T08:00:00Z'),
        sent_at: new Date('2025-03-02T08:00:03Z'),
      },
      {
        _id: ids[5],
        webhook_response_message_id: '',
        content: 'driver failed',
        recipient_phone_number: '+905556666666',
        status: 'failed',
        created_at: new Date('2025-03-02T09:00:00Z'),
        sent_at: zero,
        err: 'Post "https://webhook.site/x": context deadline exceeded',
      },
      // caught mid-delivery when the original stopped
      {
        _id: ids[6],
        webhook_response_message_id: '',
        content: 'driver processing',
        recipient_phone_number: '+905557777777',
        status: 'processing',
        created_at: new Date('2025-03-02T11:00:00Z'),
        sent_at: zero,
      },
      {
        _id: ids[7],
        webhook_response_message_id: '',
        content: 'x'.repeat(200),
        recipient_phone_number: '+905558888888',
        status: 'invalid_content',
        created_at: new Date('2025-03-02T12:00:00Z'),
        sent_at: zero,
      },
      // one it cannot understand
      { _id: ids[8], content: 42, recipient_phone_number: '+1', status: 'unsent', created_at: 'yesterday' },
    ]);
    const logs: string[] = [];
    const logger = pino(
      { level: 'warn' },
      new Writable({ write: (c: Buffer, _e, cb) => (logs.push(c.toString()), cb()) }),
    );
    const store = new MongoStore({ uri: url ?? '', dbName, collection: 'messages', logger });
    const sink = new Sink({ port: 0 });
    const sinkPort = await sink.start();
    let cleanup: (() => Promise<void>) | null = null;
    try {
      await store.init();
      assert.ok(
        logs.some((l) => l.includes(ids[8]?.toHexString() ?? '?') && l.includes('content')),
        'the bad document is reported with its _id',
      );
      // a second start converts nothing again (idempotent) and still reports the bad one
      await store.init();
      const after = await col.find({ version: { $exists: false } }).toArray();
      assert.deepEqual(
        after.map((d) => String(d._id)),
        [ids[8]?.toHexString()],
        'only the bad one left as it was',
      );

      const t = await testApp(
        {
          WEBHOOK_URL: `http://127.0.0.1:${sinkPort}/hook`,
          RATE_LIMITER_ENABLED: 'false',
          POOL_INITIAL_JOB_FETCH: 'true',
        },
        { store },
      );
      cleanup = t.cleanup;
      const { app } = t;
      const sent = (await app.server.inject('/sent-messages')).json() as {
        id: string;
        content: string;
        sent_at: string;
        webhook_response_message_id: string | null;
      }[];
      assert.equal(sent[0]?.content, 'driver sent', 'newest sent_at first');
      assert.ok(
        sent.some(
          (m) =>
            m.id === ids[1]?.toHexString() &&
            m.sent_at === '2025-03-01T08:00:05.000Z' &&
            m.webhook_response_message_id === 'resp-1',
        ),
      );
      const failed = (await app.server.inject('/messages?status=failed')).json() as {
        content: string;
        last_error: string;
      }[];
      assert.deepEqual(failed.map((m) => m.content).sort(), ['driver failed', 'seeded failed']);
      assert.ok(failed.some((m) => m.last_error === 'webhook returned 500'));
      const one = await app.server.inject(`/messages/${ids[2]?.toHexString()}`);
      assert.equal(one.statusCode, 200, one.body);
      assert.equal(one.json().created_at, '2025-03-01T06:00:00.000Z');
      assert.equal(one.json().sent_at, null, "Go's zero time is not sent");
      const all = await app.server.inject('/messages?limit=1000');
      assert.equal(all.statusCode, 200, all.body);
      assert.equal((all.json() as unknown[]).length, 8, 'every readable document, the bad one left out');
      const bad = await app.server.inject(`/messages/${ids[8]?.toHexString()}`);
      assert.equal(bad.statusCode, 404);

      // the unsent ones and the one caught mid-delivery are delivered (lease recovery takes that one)
      await app.store.recoverExpired(new Date());
      app.pool.start();
      await waitFor(
        () => sink.stats().accepted === 3,
        20_000,
        `3 deliveries (${JSON.stringify(sink.stats())})`,
      );
      await waitFor(async () => (await app.store.countByStatus()).sent === 5, 10_000, 'stored as sent');
      const delivered = sink
        .deliveries()
        .map((d) => String(d.content))
        .sort();
      assert.deepEqual(delivered, ['driver processing', 'driver unsent', 'seeded unsent']);
      assert.equal(sink.stats().duplicates, 0);

      // a document the original writes after the start is listed and read on the fly
      const late = new ObjectId();
      await col.insertOne({
        _id: late,
        webhook_response_message_id: '',
        content: 'late',
        recipient_phone_number: '+1',
        status: 'unsent',
        created_at: new Date().toISOString(),
        sent_at: '0001-01-01T00:00:00Z',
      });
      const got = await app.server.inject(`/messages/${late.toHexString()}`);
      assert.equal(got.statusCode, 200, got.body);
      assert.equal(got.json().status, 'unsent');
    } finally {
      if (cleanup) await cleanup();
      else await store.close();
      await sink.stop();
      await raw.db(dbName).dropDatabase();
      await raw.close();
    }
  },
);

test(
  "MongoDB: a dead node's fence (killed between its completion's fence and update) does not hold its message back",
  { skip: url === null && 'MONGODB_URI not configured' },
  async () => {
    const dbName = uniqueName('t');
    const store = new MongoStore({ uri: url ?? '', dbName, collection: 'messages' });
    const raw = new MongoClient(url ?? '');
    try {
      await store.init();
      await store.create([{ content: 'held', recipient_phone_number: '+1' }], new Date());
      const [m] = await store.claim({ owner: 'dead', limit: 1, now: new Date(), leaseMs: 600_000 });
      assert.ok(m);
      const doc = await raw
        .db(dbName)
        .collection('messages')
        .findOne({}, { projection: { version: 1 } });
      const fences = raw
        .db(dbName)
        .collection<{ _id: string; at: Date; by: string; to: string }>('messages_fences');
      // what its completion left: a fresh fence for the next version, by the lease holder
      await fences.insertOne({
        _id: `${m.id}:${Number(doc?.version) + 1}`,
        at: new Date(),
        by: 'lease:dead',
        to: 'sent',
      });
      assert.equal(
        await store.recoverOwners(['dead'], new Date()),
        1,
        'recovered at once, not after the fence is stale',
      );
      assert.equal((await store.get(m.id))?.status, 'unsent');
      // the dead node's update, arriving late, matches nothing
      assert.deepEqual(
        await store.complete(
          [
            {
              id: m.id,
              owner: 'dead',
              outcome: { kind: 'sent', webhookResponseMessageId: null, sentAt: new Date() },
              attempt: null,
            },
          ],
          new Date(),
        ),
        [],
      );
    } finally {
      await store.dropDatabase();
      await store.close();
      await raw.close();
    }
  },
);
