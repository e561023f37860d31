import type { AnyBulkWriteOperation, Collection, Filter, ObjectId } from 'mongodb';
import { LEASE_LOST_ERROR } from '../store.js';
import {
  BULK_CHUNK,
  duplicateIndexes,
  FENCE_STALE_MS,
  type FenceDoc,
  type MessageDoc,
} from './mongo-docs.js';

/**
 * Every state transition of a MongoDB message goes through a fence (see MongoStore): an insert of
 * `<id>:<version+1>` into the fences collection, whose unique _id lets exactly one actor win each
 * version step on any MongoDB-wire server, then the winner's conditional update.
 */
export class MongoFencing {
  constructor(
    private readonly messages: Collection<MessageDoc>,
    private readonly fences: Collection<FenceDoc>,
    /** this store instance: the actor of transitions nobody else is named for */
    private readonly instance: string,
  ) {}

  /**
   * Inserts the fences for these version steps; returns, per step, the version
   * the winner moves the document to (null: another writer won).
   *
   * A writer that died between its fence and its update leaves a fence for a
   * version the document never reached, which would block the message for good.
   * A fence older than FENCE_STALE_MS whose document is still at the version
   * before it is such a leftover (fence and update are milliseconds apart), so
   * the step skips it: the next version is fenced instead.
   */
  async fence(
    steps: { id: ObjectId; version: number; to: string; by: string }[],
    now: Date,
    /** fences taken by these (dead nodes) are leftovers at once, not after FENCE_STALE_MS */
    voidBy: ReadonlySet<string> = new Set(),
  ): Promise<(number | null)[]> {
    if (steps.length === 0) return [];
    const target = steps.map((s) => s.version + 1);
    const next: (number | null)[] = [...target];
    const key = (i: number): string => `${steps[i]?.id.toHexString()}:${target[i]}`;
    const insert = async (idx: number[]): Promise<number[]> => {
      try {
        await this.fences.insertMany(
          idx.map((i) => ({ _id: key(i), at: now, by: steps[i]?.by ?? '', to: steps[i]?.to ?? '' })),
          { ordered: false },
        );
        return [];
      } catch (err) {
        return [...duplicateIndexes(err)].map((j) => idx[j] ?? -1);
      }
    };
    let lost = await insert(steps.map((_, i) => i));
    for (let skip = 0; lost.length > 0 && skip < 3; skip++) {
      for (const i of lost) next[i] = null;
      const held = await this.fences
        .find({ _id: { $in: lost.map(key) } }, { projection: { _id: 1, at: 1, by: 1, to: 1 } })
        .toArray();
      // our own fence from an attempt whose update failed (the server went away): the same
      // transition again may use it
      const byKey = new Map(held.map((f) => [f._id, f]));
      for (const i of lost) {
        const f = byKey.get(key(i));
        if (f && f.by === steps[i]?.by && f.to === steps[i]?.to) next[i] = target[i] ?? null;
      }
      lost = lost.filter((i) => next[i] === null);
      const staleKeys = new Set(
        held
          .filter((f) => f.at.getTime() < now.getTime() - FENCE_STALE_MS || voidBy.has(f.by ?? ''))
          .map((f) => f._id),
      );
      const retry = lost.filter((i) => staleKeys.has(key(i)));
      if (retry.length === 0) break;
      for (const i of retry) target[i] = (target[i] ?? 0) + 1;
      const lostAgain = new Set(await insert(retry));
      for (const i of retry) if (!lostAgain.has(i)) next[i] = target[i] ?? null;
      lost = [...lostAgain];
    }
    return next;
  }

  /** Fences then applies one transition per document; returns the ids whose update matched. */
  async transition(
    docs: Pick<MessageDoc, '_id' | 'version' | 'status'>[],
    update: (d: Pick<MessageDoc, '_id' | 'version' | 'status'>) => Partial<MessageDoc> | null,
    now: Date,
    /**
     * Who does it: a fence this actor took for the same step in an attempt whose update
     * failed is its own to use again. Claims: the claimer; completions: the lease holder;
     * the rest: this store instance.
     */
    actor: (d: Pick<MessageDoc, '_id' | 'version' | 'status'>) => string = () => this.instance,
    voidBy?: ReadonlySet<string>,
  ): Promise<ObjectId[]> {
    // only steps that change something are fenced: a fence with no update after it would hold
    // the message until it went stale
    const steps = docs.flatMap((d) => {
      const set = update(d);
      return set ? [{ d, set }] : [];
    });
    const next = await this.fence(
      steps.map(({ d, set }) => ({
        id: d._id,
        version: d.version,
        to: String(set.status ?? d.status),
        by: actor(d),
      })),
      now,
      voidBy,
    );
    const ops: AnyBulkWriteOperation<MessageDoc>[] = [];
    const winners: ObjectId[] = [];
    steps.forEach(({ d, set }, i) => {
      const version = next[i];
      if (version === null || version === undefined) return;
      winners.push(d._id);
      ops.push({
        updateOne: {
          filter: { _id: d._id, version: d.version, status: d.status },
          update: { $set: { ...set, version } },
        },
      });
    });
    if (ops.length === 0) return [];
    // FerretDB v1 holds one PostgreSQL connection per statement of an update command until
    // the command ends; large concurrent bulk writes then starve its pool and hang. Small
    // chunks keep that bounded (a few round trips more on real MongoDB).
    let matched = 0;
    for (let i = 0; i < ops.length; i += BULK_CHUNK) {
      const res = await this.messages.bulkWrite(ops.slice(i, i + BULK_CHUNK), { ordered: true });
      matched += res.matchedCount;
    }
    if (matched === winners.length) return winners;
    // an update whose fence won but whose document moved on: find which ones applied
    const expected = new Map(steps.map(({ d }, i) => [d._id.toHexString(), next[i]]));
    const current = await this.messages
      .find({ _id: { $in: winners } }, { projection: { _id: 1, version: 1 } })
      .toArray();
    return current.filter((d) => expected.get(d._id.toHexString()) === d.version).map((d) => d._id);
  }

  /** Moves the processing documents `filter` finds back to `to`, each through its fence. */
  async releaseLeases(
    filter: Filter<MessageDoc>,
    now: Date,
    to: 'unsent' | 'unknown' = 'unsent',
    lostError: string = LEASE_LOST_ERROR,
    deadOwners?: ReadonlySet<string>,
  ): Promise<number> {
    const docs = await this.messages
      .find(filter, { projection: { _id: 1, version: 1, status: 1 } })
      .toArray();
    const applied = await this.transition(
      docs,
      () => ({
        status: to,
        lease_owner: null,
        lease_expires_at: null,
        processing_started_at: null,
        updated_at: now,
        ...(to === 'unknown' ? { last_error: lostError } : {}),
      }),
      now,
      undefined,
      deadOwners,
    );
    return applied.length;
  }
}
