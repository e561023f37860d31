import { MongoBulkWriteError, MongoClient, MongoServerError, ObjectId } from 'mongodb';
import type { AnyBulkWriteOperation, Collection, Db, Document, Filter, IndexDescription } from 'mongodb';
import type { DeliveryAttempt, Message, MessageStatus, NewMessage } from '../../domain/message.js';
import { buildMessage } from '../../domain/message.js';
import { newId, webhookIdFor } from '../../domain/ids.js';
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
import { checkNewMessages, guardStore } from '../store-errors.js';
import { mongoErrorCode } from './mongo-errors.js';
import { backfillLegacy, fromLegacy, LegacyDocError } from './legacy.js';
import {
  byClaimOrder,
  completeThenClaim,
  emptyCounts,
  errorOf,
  GIVE_UP_PREFIX,
  LEASE_LOST_ERROR,
  NODE_LOST_ERROR,
  RESOLVE_FROM,
  statusOf,
  toPage,
  DUE_RANGES,
  dueValue,
} from '../store.js';

/** The document as stored: the original's snake_case fields, ObjectId _id, and a fencing version. */
type MessageDoc = Omit<Message, 'id' | 'idempotency_key' | 'trace_context'> & {
  _id: ObjectId;
  /** absent when none, so the sparse unique index ignores it */
  idempotency_key?: string;
  /** absent when none (and in documents older than the field) */
  trace_context?: string;
  /** bumped by every state transition; see FENCING below */
  version: number;
};

interface FenceDoc {
  _id: string;
  at: Date;
  /** the store instance (process) that took it, and the status it moves the message to */
  by?: string;
  to?: string;
}

/** _id: message, attempt number and start time, so storing the same completion twice adds one row */
type AttemptDoc = DeliveryAttempt & { _id?: string };

export interface MongoStoreOptions {
  uri: string;
  dbName: string;
  collection: string;
  /** where documents of the original that cannot be read are reported */
  logger?: Logger;
}

/** a claimer looks at this many times the messages it needs (see claim) */
const CLAIM_SPREAD = 3;

/** Removes and returns up to `n` random elements of `items`. */
function takeRandom<T>(items: T[], n: number): T[] {
  const out: T[] = [];
  while (out.length < n && items.length > 0) {
    const i = Math.floor(Math.random() * items.length);
    out.push(...items.splice(i, 1));
  }
  return out;
}

/** statements per bulk write (see transition) */
const BULK_CHUNK = 8;
const FENCE_RETENTION_MS = 24 * 3_600_000;
/** A fence this old whose document never reached its version was left by a writer that died. */
const FENCE_STALE_MS = 30_000;
const SORT = { priority: -1, due_at: 1, created_at: 1 } as const;

/**
 * A stored document as a message. One still in the Go original's shape (no
 * `version`: written after the start-up backfill, or not understood by it) is
 * converted on the fly; throws LegacyDocError when it cannot be.
 */
function toMessage(d: MessageDoc): Message {
  if (d.version === undefined) {
    return { ...fromLegacy(d, new Date()), id: d._id.toHexString(), idempotency_key: null };
  }
  const { _id, version: _version, idempotency_key, trace_context, ...rest } = d;
  return {
    ...rest,
    id: _id.toHexString(),
    idempotency_key: idempotency_key ?? null,
    // documents written before the field existed have none
    trace_context: trace_context ?? null,
  };
}

function toDoc(m: Message): MessageDoc {
  const { id, idempotency_key, trace_context, ...rest } = m;
  const doc: MessageDoc = { ...rest, _id: new ObjectId(id), version: 0 };
  if (idempotency_key !== null) doc.idempotency_key = idempotency_key;
  if (trace_context !== null) doc.trace_context = trace_context;
  return doc;
}

async function ensureIndexes<T extends Document>(
  col: Collection<T>,
  specs: IndexDescription[],
): Promise<void> {
  const existing = new Set<string>();
  try {
    for (const ix of await col.listIndexes().toArray()) existing.add(String(ix.name));
  } catch (err) {
    // a collection that does not exist yet has no indexes
    if (!(err instanceof MongoServerError && err.code === 26)) throw err;
  }
  const missing = specs.filter((s) => !existing.has(s.name ?? ''));
  if (missing.length > 0) await col.createIndexes(missing);
}

function duplicateIndexes(err: unknown): Set<number> {
  if (err instanceof MongoBulkWriteError) {
    const writeErrors = Array.isArray(err.writeErrors) ? err.writeErrors : [err.writeErrors];
    const dup = new Set<number>();
    for (const w of writeErrors) {
      if (w.code !== 11000) throw err;
      dup.add(w.index);
    }
    return dup;
  }
  if (err instanceof MongoServerError && err.code === 11000) return new Set([0]);
  throw err;
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
  readonly keys: MongoKeys;
  readonly control: MongoControl;
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
    this.keys = guardStore(new MongoKeys(this.keysCol), mongoErrorCode);
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
    await ensureIndexes(this.messages, [
      { key: { status: 1, ...SORT }, name: 'due' },
      { key: { status: 1, due_at: 1 }, name: 'next_due' },
      { key: { status: 1, lease_expires_at: 1 }, name: 'lease' },
      { key: { status: 1, sent_at: -1, _id: -1 }, name: 'sent' },
      { key: { created_at: -1, _id: -1 }, name: 'created' },
      { key: { status: 1, created_at: -1, _id: -1 }, name: 'status_created' },
      { key: { idempotency_key: 1 }, name: 'idempotency_key', unique: true, sparse: true },
    ]);
    await ensureIndexes(this.fences, [{ key: { at: 1 }, name: 'at' }]);
    await ensureIndexes(this.attemptsCol, [{ key: { message_id: 1, attempt: 1 }, name: 'message' }]);
    await ensureIndexes(this.keysCol, MongoKeys.indexes());
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
    return docs;
  }

  async list(q: ListQuery): Promise<Page> {
    if (q.order === 'due') return this.listDue(q);
    const sortField = q.order === 'sent' ? 'sent_at' : 'created_at';
    const filter: Filter<MessageDoc> = {};
    const status = q.order === 'sent' ? 'sent' : q.status;
    if (status) filter.status = status;
    if (q.after) {
      const afterId = this.oid(q.after.id) ?? new ObjectId('000000000000000000000000');
      filter.$or = [
        { [sortField]: { $lt: q.after.at } },
        { [sortField]: q.after.at, _id: { $lt: afterId } },
      ] as Filter<MessageDoc>[];
    }
    const docs = await this.messages
      .find(filter)
      .sort({ [sortField]: -1, _id: -1 })
      .limit(q.limit + 1)
      .toArray();
    return toPage(this.readable(docs), q);
  }

  /** Unsent messages in delivery order (the `due` index), after the cursor's place in it. */
  private async listDue(q: ListQuery): Promise<Page> {
    const filter: Filter<MessageDoc> = { status: 'unsent' };
    const after = q.after;
    if (after) {
      const value = (k: Parameters<typeof dueValue>[1]) =>
        k === 'id' ? (this.oid(after.id) ?? new ObjectId('000000000000000000000000')) : dueValue(after, k);
      filter.$or = DUE_RANGES.map((r) => {
        const f: Record<string, unknown> = {};
        for (const k of r.eq) f[k] = value(k);
        f[r.next === 'id' ? '_id' : r.next] = { [r.next === 'priority' ? '$lt' : '$gt']: value(r.next) };
        return f;
      }) as Filter<MessageDoc>[];
    }
    const docs = await this.messages
      .find(filter)
      .sort({ ...SORT, _id: 1 })
      .limit(q.limit + 1)
      .toArray();
    return toPage(this.readable(docs), q);
  }

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
  private async fence(
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
  private async transition(
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

  async cancel(id: string, now: Date): Promise<CancelResult> {
    const _id = this.oid(id);
    if (!_id) return { result: 'not_found' };
    const doc = await this.messages.findOne({ _id }, { projection: { _id: 1, version: 1, status: 1 } });
    if (!doc) return { result: 'not_found' };
    if (doc.status !== 'unsent') return { result: 'conflict', status: doc.status };
    const applied = await this.transition([doc], () => ({ status: 'cancelled', updated_at: now }), now);
    const after = await this.messages.findOne({ _id });
    if (!after) return { result: 'not_found' };
    return applied.length === 1
      ? { result: 'cancelled', message: toMessage(after) }
      : { result: 'conflict', status: after.status };
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
    const claimed: Message[] = [];
    const tried: ObjectId[] = [];
    const set = {
      status: 'processing' as const,
      processing_started_at: req.now,
      lease_owner: req.owner,
      lease_expires_at: new Date(req.now.getTime() + req.leaseMs),
      updated_at: req.now,
    };
    // Competing claimers see the same best candidates. A claimer tries the best it
    // needs first; for each one it lost to another claimer it tries a random one of
    // the next best it already read, so claimers spread out instead of colliding again.
    let pool: MessageDoc[] = [];
    for (let round = 0; round < 8 && claimed.length < req.limit; round++) {
      const want = req.limit - claimed.length;
      if (pool.length === 0) {
        const filter: Filter<MessageDoc> = { status: 'unsent', due_at: { $lte: req.now } };
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
          await this.transition(
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
    return claimed.sort(byClaimOrder);
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
    const attempts = completions.flatMap((c) => (c.attempt ? [c.attempt] : []));
    if (attempts.length > 0) {
      try {
        await this.attemptsCol.insertMany(
          attempts.map((a) => ({ ...a, _id: `${a.message_id}:${a.attempt}:${a.started_at.getTime()}` })),
          { ordered: false },
        );
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
    const applied = await this.transition(
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

  private async releaseLeases(
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

  async recoverExpired(now: Date, to: 'unsent' | 'unknown' = 'unsent'): Promise<number> {
    if (now.getTime() - this.lastSweep > 60_000) {
      this.lastSweep = now.getTime();
      await this.fences.deleteMany({ at: { $lt: new Date(now.getTime() - FENCE_RETENTION_MS) } });
    }
    return this.releaseLeases({ status: 'processing', lease_expires_at: { $lt: now } }, now, to);
  }

  async recoverOwners(
    owners: readonly string[],
    now: Date,
    to: 'unsent' | 'unknown' = 'unsent',
  ): Promise<number> {
    if (owners.length === 0) return 0;
    return this.releaseLeases(
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
    const applied = await this.transition(
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
    return this.releaseLeases({ status: 'processing', lease_owner: owner, _id: { $nin: oids } }, now);
  }

  async release(owner: string, ids: string[], now: Date): Promise<number> {
    const oids = ids.flatMap((id) => (this.oid(id) ? [new ObjectId(id)] : []));
    if (oids.length === 0) return 0;
    return this.releaseLeases({ _id: { $in: oids }, status: 'processing', lease_owner: owner }, now);
  }

  async nextDueAt(): Promise<Date | null> {
    const doc = await this.messages
      .find({ status: 'unsent' }, { projection: { due_at: 1 } })
      .sort({ status: 1, due_at: 1 })
      .limit(1)
      .next();
    return doc?.due_at ?? null;
  }

  async countByStatus(): Promise<Record<MessageStatus, number>> {
    const counts = emptyCounts();
    const rows = await this.messages
      .aggregate<{ _id: MessageStatus; n: number }>([{ $group: { _id: '$status', n: { $sum: 1 } } }])
      .toArray();
    for (const r of rows) counts[r._id] = r.n;
    return counts;
  }
}
