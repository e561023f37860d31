import type { Collection, IndexDescription } from 'mongodb';
import type { Destination, DestinationSpec, DestinationStatus } from '../../domain/destination.js';
import { patched, specFields, type DestinationStore } from '../destination-store.js';

export type DestinationDoc = Omit<Destination, 'id'> & { _id: string };

const toDestination = ({ _id, ...rest }: DestinationDoc): Destination => ({ id: _id, ...rest });

/** The `<collection>_destinations` collection: one document per destination, `_id` its id. */
export class MongoDestinations implements DestinationStore {
  constructor(private readonly col: Collection<DestinationDoc>) {}

  static indexes(): IndexDescription[] {
    return [{ key: { topics: 1 }, name: 'topics' }];
  }

  async createDestination(id: string, spec: DestinationSpec, now: Date): Promise<Destination> {
    const doc: DestinationDoc = {
      _id: id,
      ...spec,
      status: 'active',
      disabled_reason: null,
      disabled_at: null,
      created_at: now,
      updated_at: now,
      version: 1,
    };
    await this.col.insertOne(doc);
    return toDestination(doc);
  }

  async getDestination(id: string): Promise<Destination | null> {
    const d = await this.col.findOne({ _id: id });
    return d ? toDestination(d) : null;
  }

  async listDestinations(q: { after?: string; limit: number; topic?: string }): Promise<Destination[]> {
    const filter: Record<string, unknown> = {};
    if (q.after !== undefined) filter._id = { $gt: q.after };
    if (q.topic !== undefined) filter.topics = q.topic;
    const docs = await this.col.find(filter).sort({ _id: 1 }).limit(q.limit).toArray();
    return docs.map(toDestination);
  }

  async updateDestination(
    id: string,
    patch: Partial<DestinationSpec>,
    now: Date,
    ifVersion?: number,
  ): Promise<Destination | null> {
    // read, then a write conditional on the version read: two writers cannot both apply
    for (;;) {
      const d = await this.col.findOne({ _id: id });
      if (!d || (ifVersion !== undefined && d.version !== ifVersion)) return null;
      const spec = patched(specFields(d), patch);
      const r = await this.col.updateOne(
        { _id: id, version: d.version },
        { $set: { ...spec, updated_at: now, version: d.version + 1 } },
      );
      if (r.matchedCount === 1)
        return toDestination({ ...d, ...spec, updated_at: now, version: d.version + 1 });
      if (ifVersion !== undefined) return null;
    }
  }

  async setDestinationStatus(
    id: string,
    status: DestinationStatus,
    reason: string | null,
    now: Date,
  ): Promise<Destination | null> {
    const disabled = status === 'disabled';
    await this.col.updateOne(
      { _id: id },
      {
        $set: {
          status,
          disabled_reason: disabled ? reason : null,
          disabled_at: disabled ? now : null,
          updated_at: now,
        },
        $inc: { version: 1 },
      },
    );
    return this.getDestination(id);
  }

  async deleteDestination(id: string): Promise<boolean> {
    return (await this.col.deleteOne({ _id: id })).deletedCount > 0;
  }
}
