import type { Collection } from 'mongodb';
import type { ApiKeyRecord, ApiKeyStore, NewApiKey } from '../key-store.js';
import type { Scope } from '../../domain/scopes.js';

interface KeyDoc {
  _id: string;
  name: string;
  scopes: Scope[];
  hash: string;
  created_at: Date;
  last_used_at: Date | null;
  revoked_at: Date | null;
  /** absent on keys made before keys could expire: never */
  expires_at?: Date | null;
}

const toRecord = ({ _id, expires_at, ...rest }: KeyDoc): ApiKeyRecord => ({
  id: _id,
  ...rest,
  expires_at: expires_at ?? null,
});

/** The `<collection>_api_keys` collection: one document per key, `_id` the key id. */
export class MongoKeys implements ApiKeyStore {
  constructor(private readonly col: Collection<KeyDoc>) {}

  static indexes(): Array<{ key: Record<string, 1>; name: string; unique: boolean }> {
    return [{ key: { hash: 1 }, name: 'hash', unique: true }];
  }

  async createKey(key: NewApiKey, now: Date): Promise<ApiKeyRecord> {
    const doc: KeyDoc = {
      _id: key.id,
      name: key.name,
      scopes: [...key.scopes],
      hash: key.hash,
      created_at: now,
      last_used_at: null,
      revoked_at: null,
      expires_at: key.expires_at,
    };
    await this.col.insertOne(doc);
    return toRecord(doc);
  }

  async listKeys(): Promise<ApiKeyRecord[]> {
    const docs = await this.col.find({}).sort({ created_at: 1, _id: 1 }).toArray();
    return docs.map(toRecord);
  }

  async revokeKey(id: string, now: Date): Promise<ApiKeyRecord | null> {
    await this.col.updateOne({ _id: id, revoked_at: null }, { $set: { revoked_at: now } });
    const doc = await this.col.findOne({ _id: id });
    return doc ? toRecord(doc) : null;
  }

  async touchKeys(uses: ReadonlyArray<{ id: string; at: Date }>): Promise<void> {
    if (uses.length === 0) return;
    await this.col.bulkWrite(
      uses.map((u) => ({
        updateOne: {
          filter: { _id: u.id, $or: [{ last_used_at: null }, { last_used_at: { $lt: u.at } }] },
          update: { $set: { last_used_at: u.at } },
        },
      })),
      { ordered: false },
    );
  }
}

export type { KeyDoc };
