import { ObjectId, type Filter, type Sort } from 'mongodb';
import { dueValue, DUE_RANGES, type ListQuery } from '../store.js';
import { destinationFilter, SORT, type MessageDoc } from './mongo-docs.js';

const NO_ID = new ObjectId('000000000000000000000000');

/** A cursor's id as an ObjectId (one that is not a valid id sorts before every other). */
function oidOf(id: string): ObjectId {
  return ObjectId.isValid(id) && /^[0-9a-f]{24}$/.test(id) ? new ObjectId(id) : NO_ID;
}

/** The destination and group filters of a list query. */
function filtersOf(q: ListQuery): Filter<MessageDoc> {
  const f: Filter<MessageDoc> = {};
  if (q.destination !== undefined) f.destination_id = destinationFilter(q.destination);
  if (q.group !== undefined) f.group_id = q.group;
  if (q.recipient !== undefined) f.recipient_phone_number = q.recipient;
  return f;
}

/**
 * The find of one page of `GET /messages`: newest first by creation (or sending, for sent
 * messages), or unsent messages in delivery order (the `due` index); after the cursor's place.
 */
export function listFind(q: ListQuery): { filter: Filter<MessageDoc>; sort: Sort } {
  if (q.order === 'due') return dueFind(q);
  const sortField = q.order === 'sent' ? 'sent_at' : 'created_at';
  const filter: Filter<MessageDoc> = filtersOf(q);
  const status = q.order === 'sent' ? 'sent' : q.status;
  if (status) filter.status = status;
  if (q.since) filter[sortField] = { $gte: q.since };
  if (q.after) {
    filter.$or = [
      { [sortField]: { $lt: q.after.at } },
      { [sortField]: q.after.at, _id: { $lt: oidOf(q.after.id) } },
    ] as Filter<MessageDoc>[];
  }
  return { filter, sort: { [sortField]: -1, _id: -1 } };
}

function dueFind(q: ListQuery): { filter: Filter<MessageDoc>; sort: Sort } {
  const filter: Filter<MessageDoc> = { ...filtersOf(q), status: 'unsent' };
  const after = q.after;
  if (after) {
    const value = (k: Parameters<typeof dueValue>[1]) => (k === 'id' ? oidOf(after.id) : dueValue(after, k));
    filter.$or = DUE_RANGES.map((r) => {
      const f: Record<string, unknown> = {};
      for (const k of r.eq) f[k] = value(k);
      f[r.next === 'id' ? '_id' : r.next] = { [r.next === 'priority' ? '$lt' : '$gt']: value(r.next) };
      return f;
    }) as Filter<MessageDoc>[];
  }
  return { filter, sort: { ...SORT, _id: 1 } };
}
