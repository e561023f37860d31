import { MongoClient, ObjectId } from 'mongodb';
import type { Collection, Db, Document, Filter } from 'mongodb';
import type { DeliveryAttempt, Message, MessageStatus, NewMessage } from '../../domain/message.js';
import { buildMessage, MESSAGE_STATUSES } from '../../domain/message.js';
import { newId, webhookIdFor } from '../../domain/ids.js';
import { DEFAULT_DESTINATION_ID } from '../../domain/destination.js';
import type {
  CompleteAndClaim,
  CancelResult,
  ClaimRequest,
  Completion,
  CreateResult,
  ListQuery,
  MessageStore,
  Page,
  ResolveAction,
  ResolveResult,
} from '../store.js';
import type { Logger } from '../../logging/logger.js';
import { MongoKeys, type KeyDoc } from './mongo-keys.js';
import { MongoControl, type ControlDoc, type NodeDoc } from './mongo-control.js';
import { MongoDestinations, type DestinationDoc } from './mongo-destinations.js';
import { MongoSchedules, type ScheduleDoc } from './mongo-schedules.js';
import { MongoHealth, attemptDoc, type CircuitDoc } from './mongo-health.js';
import { checkNewMessages, guardStore } from '../store-errors.js';
import { mongoErrorCode } from './mongo-errors.js';
import { backfillLegacy, LegacyDocError } from './legacy.js';
import { MongoFencing } from './mongo-fencing.js';
import { listFind } from './mongo-list.js';
import {
  CLAIM_SPREAD,
  duplicateIndexes,
  ATTEMPT_INDEXES,
  destinationFilter,
  ensureIndexes,
  FENCE_INDEXES,
  MESSAGE_INDEXES,
  FENCE_RETENTION_MS,
  SORT,
  takeRandom,
  toDoc,
  toMessage,
  type AttemptDoc,
  type FenceDoc,
  type MessageDoc,
} from './mongo-docs.js';
import {
  byClaimOrder,
  openLanes,
  completeThenClaim,
  emptyCounts,
  errorOf,
  FAIL_UNSENT_BATCH,
  inBatches,
  GIVE_UP_PREFIX,
  NODE_LOST_ERROR,
  RESOLVE_FROM,
  statusOf,
  toPage,
} from '../store.js';

export interface MongoStoreOptions {
  uri: string;
  dbName: string;
  collection: string;
  /** where documents of the original that cannot be read are reported */
  logger?: Logger;
}

/**
 * MongoDB store, built for any MongoDB-wire-compatible server without
 * multi-document transactions.
 *
 * FENCING. FerretDB v1 runs findAndModify/update as read-then-write, so a
 * conditional update alone can let two claimers take one message. Every state
 * transition of a message (claim, cancel, complete, release, recover) therefore
 * first inserts `<id>:<version+1>` into the fences collection, whose unique _id
 * makes the insert atomic on every server: exactly one actor wins each version
 * step, and only the winner writes the document (still conditionally on
 * version, which is what makes it safe on real MongoDB too). Fences are batched
 * (one insertMany per claim/complete batch) and swept after 24 hours.
 */
export class MongoStore implements MessageStore {
  readonly kind = 'mongodb' as const;
  readonly embedded = false;
  private readonly client: MongoClient;
  private readonly db: Db;
  private readonly messages: Collection<MessageDoc>;
  private readonly fences: Collection<FenceDoc>;
  /** this store instance, named in the fences it takes */
  private readonly instance = new ObjectId().toHexString();
  /** the claim in progress: claims of this instance run one after another (see claim()) */
  private claiming: Promise<unknown> = Promise.resolve();
  private readonly attemptsCol: Collection<AttemptDoc>;
  private lastSweep = 0;
  private readonly fencing: MongoFencing;
  readonly keys: MongoKeys;
  readonly control: MongoControl;
  readonly destinations: MongoDestinations;
  private readonly destinationsCol: Collection<DestinationDoc>;
  readonly health: MongoHealth;
  readonly schedules: MongoSchedules;
  private readonly schedulesCol: Collection<ScheduleDoc>;
  private readonly circuitsCol: Collection<CircuitDoc>;
  private readonly keysCol: Collection<KeyDoc>;

  constructor(private readonly options: MongoStoreOptions) {
    this.client = new MongoClient(options.uri, {
      serverSelectionTimeoutMS: 5000,
      ...(/maxPoolSize=/i.test(options.uri) ? {} : { maxPoolSize: 20 }),
    });
    this.db = this.client.db(options.dbName);
    this.messages = this.db.collection<MessageDoc>(options.collection);
    this.fences = this.db.collection<FenceDoc>(`${options.collection}_fences`);
    this.attemptsCol = this.db.collection<AttemptDoc>(`${options.collection}_attempts`);
    this.keysCol = this.db.collection<KeyDoc>(`${options.collection}_api_keys`);
    this.fencing = new MongoFencing(this.messages, this.fences, this.instance);
    this.destinationsCol = this.db.collection<DestinationDoc>(`${options.collection}_destinations`);
    this.destinations = guardStore(new MongoDestinations(this.destinationsCol), mongoErrorCode);
    this.circuitsCol = this.db.collection<CircuitDoc>(`${options.collection}_circuits`);
    this.health = guardStore(
      new MongoHealth(this.circuitsCol, this.attemptsCol, this.messages),
      mongoErrorCode,
    );
    this.keys = guardStore(new MongoKeys(this.keysCol), mongoErrorCode);
    this.schedulesCol = this.db.collection<ScheduleDoc>(`${options.collection}_schedules`);
    this.schedules = guardStore(new MongoSchedules(this.schedulesCol, this.fences), mongoErrorCode);
    this.control = guardStore(
      new MongoControl(
        this.db.collection<ControlDoc>(`${options.collection}_control`),
        this.db.collection<NodeDoc>(`${options.collection}_nodes`),
      ),
      mongoErrorCode,
    );
    // every method's driver errors leave as StoreError (store-errors.ts)
    return guardStore(this, mongoErrorCode);
  }

  async init(): Promise<void> {
    await this.client.connect();
    // Only the missing ones: FerretDB v1 panics when asked to create an index that exists.
    await ensureIndexes(this.messages, MESSAGE_INDEXES);
    await ensureIndexes(this.fences, FENCE_INDEXES);
    await ensureIndexes(this.attemptsCol, ATTEMPT_INDEXES);
    await ensureIndexes(this.keysCol, MongoKeys.indexes());
    await ensureIndexes(this.destinationsCol, MongoDestinations.indexes());
    await ensureIndexes(this.schedulesCol, MongoSchedules.indexes());
    const report = await backfillLegacy(
      this.messages as unknown as Collection<Document>,
      new Date(),
      (id, reason) =>
        this.options.logger?.warn(
          { doc_id: id, reason },
          'a document of the original cannot be read: skipped',
        ),
    );
    if (report.converted > 0 || report.skipped.length > 0) {
      this.options.logger?.info(
        { converted: report.converted, skipped: report.skipped.length },
        "documents of the Go original brought to this store's shape",
      );
    }
  }

  /** Documents as messages; one that cannot be read is reported with its _id and left out. */
  private readable(docs: MessageDoc[]): Message[] {
    const out: Message[] = [];
    for (const d of docs) {
      try {
        out.push(toMessage(d));
      } catch (err) {
        if (!(err instanceof LegacyDocError)) throw err;
        this.options.logger?.warn(
          { doc_id: err.docId, reason: err.message },
          'document cannot be read: skipped',
        );
      }
    }
    return out;
  }

  /** Drops the database (tests). */
  async dropDatabase(): Promise<void> {
    await this.db.dropDatabase();
  }

  async close(): Promise<void> {
    await this.client.close();
  }

  async ping(): Promise<void> {
    await this.db.command({ ping: 1 });
  }

  async create(inputs: NewMessage[], now: Date): Promise<CreateResult[]> {
    checkNewMessages(inputs);
    if (inputs.length === 0) return [];
    const built = inputs.map((input) => {
      const id = newId(now.getTime());
      return buildMessage(input, id, webhookIdFor(id), now);
    });
    let dup = new Set<number>();
    try {
      await this.messages.insertMany(built.map(toDoc), { ordered: false });
    } catch (err) {
      dup = duplicateIndexes(err);
    }
    const byKey = new Map<string, Message>();
    if (dup.size > 0) {
      const keys = [...dup].map((i) => built[i]?.idempotency_key ?? '');
      const docs = await this.messages.find({ idempotency_key: { $in: keys } }).toArray();
      for (const d of docs) byKey.set(d.idempotency_key ?? '', toMessage(d));
    }
    return built.map((m, i) => {
      if (!dup.has(i)) return { message: m, created: true };
      const existing = byKey.get(m.idempotency_key ?? '');
      if (!existing) throw new Error('insert conflicted but no document holds the idempotency key');
      return { message: existing, created: false };
    });
  }

  private oid(id: string): ObjectId | null {
    return ObjectId.isValid(id) && /^[0-9a-f]{24}$/.test(id) ? new ObjectId(id) : null;
  }

  async get(id: string): Promise<Message | null> {
    const _id = this.oid(id);
    if (!_id) return null;
    const doc = await this.messages.findOne({ _id });
    return doc ? (this.readable([doc])[0] ?? null) : null;
  }

  async getByIdempotencyKey(key: string): Promise<Message | null> {
    const doc = await this.messages.findOne({ idempotency_key: key });
    return doc ? toMessage(doc) : null;
  }

  async attempts(id: string): Promise<DeliveryAttempt[]> {
    const docs = await this.attemptsCol
      .find({ message_id: id }, { projection: { _id: 0 } })
      .sort({ attempt: 1, started_at: 1 })
      .toArray();
    // `default`'s attempts (and those older than destinations) have no destination_id or url
    return docs.map((d) => ({
      ...d,
      destination_id: d.destination_id ?? null,
      url: d.url ?? null,
      node: d.node ?? null,
    }));
  }

  async list(q: ListQuery): Promise<Page> {
    const { filter, sort } = listFind(q);
    const docs = await this.messages
      .find(filter)
      .sort(sort)
      .limit(q.limit + 1)
      .toArray();
    return toPage(this.readable(docs), q);
  }

  async cancel(id: string, now: Date): Promise<CancelResult> {
    const _id = this.oid(id);
    if (!_id) return { result: 'not_found' };
    const doc = await this.messages.findOne({ _id }, { projection: { _id: 1, version: 1, status: 1 } });
    if (!doc) return { result: 'not_found' };
    if (doc.status !== 'unsent') return { result: 'conflict', status: doc.status };
    const applied = await this.fencing.transition(
      [doc],
      () => ({ status: 'cancelled', updated_at: now }),
      now,
    );
    const after = await this.messages.findOne({ _id });
    if (!after) return { result: 'not_found' };
    return applied.length === 1
      ? { result: 'cancelled', message: toMessage(after) }
      : { result: 'conflict', status: after.status };
  }

  async failUnsent(
    destination: string,
    reason: string,
    now: Date,
    batch = FAIL_UNSENT_BATCH,
  ): Promise<number> {
    if (destination === DEFAULT_DESTINATION_ID) return 0;
    return inBatches(batch, async () => {
      const docs = await this.messages
        .find({ status: 'unsent', destination_id: destination })
        .sort(SORT)
        .limit(batch)
        .toArray();
      // through the fences, as every transition of a message (a claim may race this); a document
      // a claim took meanwhile is not unsent any more, so the next batch does not read it again
      await this.fencing.transition(
        docs,
        () => ({ status: 'failed' as const, updated_at: now, last_error: reason }),
        now,
      );
      return docs.length;
    });
  }

  /**
   * Claims by this store instance run one at a time. A claimer may reuse its own fence
   * (`claim:<owner>`) left by an attempt that failed; two claims of one owner at once would
   * take each other's fences for their own and could both win a message.
   */
  async claim(req: ClaimRequest): Promise<Message[]> {
    const run = this.claiming.then(() => this.claimOnce(req));
    this.claiming = run.catch(() => undefined);
    return run;
  }

  private async claimOnce(req: ClaimRequest): Promise<Message[]> {
    const set = {
      status: 'processing' as const,
      processing_started_at: req.now,
      lease_owner: req.owner,
      lease_expires_at: new Date(req.now.getTime() + req.leaseMs),
      updated_at: req.now,
    };
    // `default`'s messages (no destination_id, or null as the Go original's documents), then each
    // destination's lane: every find is an equality on (status, destination_id) of the `lane` index
    const total = req.total ?? Infinity;
    const first = Math.min(req.limit, total);
    const claimed = first > 0 ? await this.claimLane(null, first, req, set) : [];
    for (const lane of openLanes(req.lanes)) {
      const limit = Math.min(lane.limit, total - claimed.length);
      if (limit <= 0) break;
      claimed.push(...(await this.claimLane(lane.destination, limit, req, set)));
    }
    return claimed.sort(byClaimOrder);
  }

  private async claimLane(
    destination: string | null,
    limit: number,
    req: ClaimRequest,
    set: Pick<
      MessageDoc,
      'status' | 'processing_started_at' | 'lease_owner' | 'lease_expires_at' | 'updated_at'
    >,
  ): Promise<Message[]> {
    const claimed: Message[] = [];
    const tried: ObjectId[] = [];
    // Competing claimers see the same best candidates. A claimer tries the best it
    // needs first; for each one it lost to another claimer it tries a random one of
    // the next best it already read, so claimers spread out instead of colliding again.
    let pool: MessageDoc[] = [];
    for (let round = 0; round < 8 && claimed.length < limit; round++) {
      const want = limit - claimed.length;
      if (pool.length === 0) {
        const filter: Filter<MessageDoc> = {
          status: 'unsent',
          destination_id: destination,
          // lanes claim what is due now; `default` may claim ahead (ClaimRequest.dueBy)
          due_at: { $lte: destination === null ? (req.dueBy ?? req.now) : req.now },
        };
        if (tried.length > 0) filter._id = { $nin: tried };
        pool = await this.messages
          .find(filter)
          .sort(SORT)
          .limit(want * CLAIM_SPREAD)
          .toArray();
        if (pool.length === 0) break;
      }
      const candidates = round === 0 ? pool.splice(0, want) : takeRandom(pool, want);
      tried.push(...candidates.map((c) => c._id));
      const won = new Set(
        (
          await this.fencing.transition(
            candidates,
            () => set,
            req.now,
            () => `claim:${req.owner}`,
          )
        ).map((id) => id.toHexString()),
      );
      for (const d of candidates) {
        if (won.has(d._id.toHexString())) claimed.push(toMessage({ ...d, ...set, version: d.version + 1 }));
      }
    }
    return claimed;
  }

  async completeAndClaim(
    completions: Completion[],
    claim: ClaimRequest,
    now: Date,
  ): Promise<CompleteAndClaim> {
    return completeThenClaim(this, completions, claim, now);
  }

  async complete(completions: Completion[], now: Date): Promise<string[]> {
    if (completions.length === 0) return [];
    const attempts = completions.flatMap((c) => (c.attempt ? [{ ...c.attempt, node: c.owner }] : []));
    if (attempts.length > 0) {
      try {
        await this.attemptsCol.insertMany(attempts.map(attemptDoc), { ordered: false });
      } catch (err) {
        duplicateIndexes(err); // stored by an earlier try of this completion whose answer was lost
      }
    }
    const byId = new Map(completions.map((c) => [c.id, c]));
    const ids = completions.flatMap((c) => (this.oid(c.id) ? [new ObjectId(c.id)] : []));
    const docs = await this.messages
      .find(
        { _id: { $in: ids }, status: 'processing' },
        { projection: { _id: 1, version: 1, status: 1, lease_owner: 1, attempts: 1 } },
      )
      .toArray();
    const attemptsOf = new Map(docs.map((d) => [d._id.toHexString(), d.attempts]));
    const mine = docs.filter((d) => byId.get(d._id.toHexString())?.owner === d.lease_owner);
    const applied = await this.fencing.transition(
      mine,
      (d) => {
        const c = byId.get(d._id.toHexString());
        if (!c) return null;
        const o = c.outcome;
        const set: Partial<MessageDoc> = {
          status: statusOf(o),
          updated_at: now,
          last_error: errorOf(o),
          lease_owner: null,
          lease_expires_at: null,
          processing_started_at: null,
          attempts: (attemptsOf.get(d._id.toHexString()) ?? 0) + (c.attempt ? 1 : 0),
        };
        if (o.kind === 'sent') {
          set.sent_at = o.sentAt;
          if (o.webhookResponseMessageId !== null)
            set.webhook_response_message_id = o.webhookResponseMessageId;
        }
        if (o.kind === 'retry') set.due_at = o.dueAt;
        return set;
      },
      now,
      (d) => `lease:${byId.get(d._id.toHexString())?.owner ?? ''}`,
    );
    return applied.map((id) => id.toHexString());
  }

  async recoverExpired(now: Date, to: 'unsent' | 'unknown' = 'unsent'): Promise<number> {
    if (now.getTime() - this.lastSweep > 60_000) {
      this.lastSweep = now.getTime();
      await this.fences.deleteMany({ at: { $lt: new Date(now.getTime() - FENCE_RETENTION_MS) } });
    }
    return this.fencing.releaseLeases({ status: 'processing', lease_expires_at: { $lt: now } }, now, to);
  }

  async recoverOwners(
    owners: readonly string[],
    now: Date,
    to: 'unsent' | 'unknown' = 'unsent',
  ): Promise<number> {
    if (owners.length === 0) return 0;
    return this.fencing.releaseLeases(
      { status: 'processing', lease_owner: { $in: [...owners] } },
      now,
      to,
      NODE_LOST_ERROR,
      // a dead node killed between its fence and its update (a completion) left fences that would
      // hold its messages for FENCE_STALE_MS: they are leftovers now
      new Set(owners.flatMap((o) => [`lease:${o}`, `claim:${o}`])),
    );
  }

  async resolve(id: string, action: ResolveAction, now: Date): Promise<ResolveResult> {
    const _id = this.oid(id);
    if (!_id) return { result: 'not_found' };
    const doc = await this.messages.findOne(
      { _id },
      { projection: { _id: 1, version: 1, status: 1, last_error: 1 } },
    );
    if (!doc) return { result: 'not_found' };
    if (!RESOLVE_FROM[action].includes(doc.status)) return { result: 'conflict', status: doc.status };
    const applied = await this.fencing.transition(
      [doc],
      () =>
        action === 'retry'
          ? { status: 'unsent', due_at: now, updated_at: now }
          : {
              status: 'failed',
              updated_at: now,
              last_error: GIVE_UP_PREFIX + (doc.last_error ? `: ${doc.last_error}` : ''),
            },
      now,
    );
    const after = await this.messages.findOne({ _id });
    if (!after) return { result: 'not_found' };
    return applied.length === 1
      ? { result: 'done', message: toMessage(after) }
      : { result: 'conflict', status: after.status };
  }

  async releaseOwned(owner: string, keep: string[], now: Date): Promise<number> {
    const oids = keep.flatMap((id) => (this.oid(id) ? [new ObjectId(id)] : []));
    return this.fencing.releaseLeases({ status: 'processing', lease_owner: owner, _id: { $nin: oids } }, now);
  }

  async release(owner: string, ids: string[], now: Date): Promise<number> {
    const oids = ids.flatMap((id) => (this.oid(id) ? [new ObjectId(id)] : []));
    if (oids.length === 0) return 0;
    return this.fencing.releaseLeases({ _id: { $in: oids }, status: 'processing', lease_owner: owner }, now);
  }

  async nextDueAt(): Promise<Date | null> {
    const doc = await this.messages
      .find({ status: 'unsent' }, { projection: { due_at: 1 } })
      .sort({ status: 1, due_at: 1 })
      .limit(1)
      .next();
    return doc?.due_at ?? null;
  }

  async nextDueOf(destinations: readonly string[]): Promise<Map<string, Date>> {
    const out = new Map<string, Date>();
    // one find each, on the `lane_next_due` index
    const found = await Promise.all(
      destinations.map((d) =>
        this.messages
          .find({ status: 'unsent', destination_id: destinationFilter(d) }, { projection: { due_at: 1 } })
          .sort({ status: 1, destination_id: 1, due_at: 1 })
          .limit(1)
          .next(),
      ),
    );
    destinations.forEach((d, i) => {
      const due = found[i]?.due_at;
      if (due) out.set(d, due);
    });
    return out;
  }

  async countByStatus(cap?: number): Promise<Record<MessageStatus, number>> {
    const counts = emptyCounts();
    if (cap !== undefined) {
      // each status counted to cap + 1 on an index that begins with status
      await Promise.all(
        MESSAGE_STATUSES.map(async (status) => {
          counts[status] = await this.messages.countDocuments({ status }, { limit: cap + 1 });
        }),
      );
      return counts;
    }
    const rows = await this.messages
      .aggregate<{ _id: MessageStatus; n: number }>([{ $group: { _id: '$status', n: { $sum: 1 } } }])
      .toArray();
    for (const r of rows) counts[r._id] = r.n;
    return counts;
  }
}
