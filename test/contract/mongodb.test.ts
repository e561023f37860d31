import assert from 'node:assert/strict';
import { test } from 'node:test';
import { MongoClient } from 'mongodb';
import { mongoFactory, serviceUrl, uniqueName } from '../helpers/services.js';
import { storeContract } from './store-contract.js';
import { MongoStore } from '../../src/store/mongo/mongo-store.js';

storeContract(mongoFactory());

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
