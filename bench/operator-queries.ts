import { MESSAGE_STATUSES } from '../src/domain/message.js';
import { orderOf, type MessageStore } from '../src/store/store.js';

export interface OperatorQueryTimes {
  /** query name → [p50, p99, max] in ms */
  [query: string]: [number, number, number];
}

function quantiles(ms: number[]): [number, number, number] {
  const s = [...ms].sort((a, b) => a - b);
  const at = (q: number): number => s[Math.min(s.length - 1, Math.floor(q * s.length))] ?? 0;
  return [at(0.5), at(0.99), s[s.length - 1] ?? 0];
}

/**
 * What an operator asks of a large store, timed through the store seam (the
 * API adds a JSON encoding on top): a page of each status (100 rows, and 1 row),
 * one message by id, and a page of /sent-messages. Each query `repeat` times.
 */
export async function operatorQueries(
  store: MessageStore,
  sampleId: string,
  repeat = 50,
): Promise<OperatorQueryTimes> {
  const out: OperatorQueryTimes = {};
  const time = async (name: string, fn: () => Promise<unknown>): Promise<void> => {
    await fn(); // warm: plan caches, pages
    const ms: number[] = [];
    for (let i = 0; i < repeat; i++) {
      const t0 = performance.now();
      await fn();
      ms.push(performance.now() - t0);
    }
    out[name] = quantiles(ms);
  };
  for (const status of MESSAGE_STATUSES) {
    await time(`status=${status}&limit=100`, () =>
      store.list({ order: orderOf(status), status, limit: 100 }),
    );
    await time(`status=${status}&limit=1`, () => store.list({ order: orderOf(status), status, limit: 1 }));
  }
  await time('all, limit=100', () => store.list({ order: 'created', limit: 100 }));
  await time('sent-messages page', () => store.list({ order: 'sent', limit: 100 }));
  await time('get one', () => store.get(sampleId));
  return out;
}
