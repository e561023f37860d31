import type { Collection } from 'mongodb';
import type { DeliveryAttempt } from '../../domain/message.js';
import type {
  AttemptStats,
  Circuit,
  CircuitFields,
  DestinationHealthStore,
} from '../destination-health-store.js';
import { MongoServerError } from 'mongodb';
import type { AttemptDoc, MessageDoc } from './mongo-docs.js';

export type CircuitDoc = Omit<Circuit, 'destination_id'> & { _id: string };

const toCircuit = ({ _id, ...rest }: CircuitDoc): Circuit => ({ destination_id: _id, ...rest });

/**
 * An attempt as stored: `_id` of message, attempt number and start time (storing the same
 * completion twice adds one document); `default`'s attempts without destination_id and url, so
 * the sparse `destination` index holds only those of a destination of its own.
 */
export function attemptDoc(a: DeliveryAttempt): AttemptDoc {
  const { destination_id, url, ...rest } = a;
  return {
    ...rest,
    ...(destination_id ? { destination_id, url: url ?? null } : {}),
    _id: `${a.message_id}:${a.attempt}:${a.started_at.getTime()}`,
  };
}

/** The `<collection>_circuits` collection (`_id` the destination); health figures from attempts and lanes. */
export class MongoHealth implements DestinationHealthStore {
  constructor(
    private readonly circuits: Collection<CircuitDoc>,
    private readonly attempts: Collection<AttemptDoc>,
    private readonly messages: Collection<MessageDoc>,
  ) {}

  async listCircuits(): Promise<Circuit[]> {
    const docs = await this.circuits.find({}).sort({ _id: 1 }).toArray();
    return docs.map(toCircuit);
  }

  async getCircuit(id: string): Promise<Circuit | null> {
    const d = await this.circuits.findOne({ _id: id });
    return d ? toCircuit(d) : null;
  }

  async setCircuit(id: string, rev: number, next: CircuitFields, now: Date): Promise<Circuit | null> {
    const doc: CircuitDoc = { _id: id, ...next, rev: rev + 1, updated_at: now };
    if (rev === 0) {
      try {
        await this.circuits.insertOne(doc);
        return toCircuit(doc);
      } catch (err) {
        // another node stored it first
        if (err instanceof MongoServerError && err.code === 11000) return null;
        throw err;
      }
    }
    const { _id, ...fields } = doc;
    const r = await this.circuits.updateOne({ _id, rev }, { $set: fields });
    return r.matchedCount === 1 ? toCircuit(doc) : null;
  }

  async deleteCircuit(id: string): Promise<void> {
    await this.circuits.deleteOne({ _id: id });
  }

  private async last(id: string, outcome: Record<string, unknown>): Promise<Date | null> {
    const d = await this.attempts
      .find({ destination_id: id, outcome }, { projection: { started_at: 1 } })
      .sort({ destination_id: 1, outcome: 1, started_at: -1 })
      .limit(1)
      .next();
    return d?.started_at ?? null;
  }

  async attemptStats(id: string, since: Date): Promise<AttemptStats> {
    const sent = { $eq: 'sent' as const };
    const other = { $in: ['retry' as const, 'failed' as const, 'unknown' as const] };
    const [successes, failures, last_success_at, last_failure_at] = await Promise.all([
      this.attempts.countDocuments({ destination_id: id, outcome: sent, started_at: { $gte: since } }),
      this.attempts.countDocuments({ destination_id: id, outcome: other, started_at: { $gte: since } }),
      this.last(id, sent),
      this.last(id, other),
    ]);
    return { successes, failures, last_success_at, last_failure_at };
  }

  async inFlight(id: string): Promise<number> {
    return this.messages.countDocuments({ status: 'processing', destination_id: id });
  }

  async dueBacklog(id: string, now: Date): Promise<number> {
    return this.messages.countDocuments({ status: 'unsent', destination_id: id, due_at: { $lte: now } });
  }
}
