import { Pool } from 'undici';
import { post } from '../src/delivery/webhook-client.js';
import type { ClaimedMessage, Completion, MessageStore } from '../src/store/store.js';
import { roundSizing } from '../src/worker/outcome.js';

/**
 * The benchmark's "floor": the least a scheduled-webhook deliverer can do per
 * message with a given store. A loop that claims with the store's own
 * completeAndClaim, POSTs each message with the service's own HTTP code and
 * records it as sent with its attempt, at the same concurrency, and nothing
 * else: no worker pool, signing, retry policy, rate limiter, outcome events,
 * cache or logging. Its ratio to the HTTP limit is what this machine allows
 * for that store's work per message; the service's distance to it is the cost
 * of everything else it does.
 *
 * It sizes its rounds and its ready buffer as the pool does (roundSizing), two
 * rounds at most in flight, so it is not handicapped where the pool is not.
 */
export async function floorDeliver(
  store: MessageStore,
  sinkUrl: string,
  n: number,
  concurrency: number,
  headers: (webhookId: string) => Record<string, string>,
): Promise<number> {
  const pool = new Pool(sinkUrl, { connections: concurrency, pipelining: 1 });
  const { prefetch, minClaim } = roundSizing(concurrency, store.embedded, false);
  const owner = `floor-${process.pid}`;
  const ready: ClaimedMessage[] = [];
  let done: Completion[] = [];
  let inFlight = 0;
  let claiming = 0;
  let rounds = 0;
  let wanted = n;
  let delivered = 0;
  let failure: unknown = null;
  let finish!: () => void;
  const finished = new Promise<void>((resolve) => (finish = resolve));

  const round = (limit: number): void => {
    rounds++;
    claiming += limit;
    wanted -= limit;
    const batch = done;
    done = [];
    const now = new Date();
    store
      .completeAndClaim(batch, { owner, limit, now, leaseMs: 60_000 }, now)
      .then(({ claimed }) => {
        ready.push(...claimed);
        // a short round gives its shortfall back (the other round may have held rows); an empty one
        // means nothing is left to claim
        wanted = limit > 0 && claimed.length === 0 ? 0 : wanted + limit - claimed.length;
      })
      .catch((err: unknown) => (failure = err))
      .finally(() => {
        rounds--;
        claiming -= limit;
        pump();
      });
  };

  const send = (m: ClaimedMessage): void => {
    inFlight++;
    const startedAt = new Date();
    const t0 = performance.now();
    post(
      pool,
      '/hook',
      headers(m.webhook_id),
      JSON.stringify({ to: m.recipient_phone_number, content: m.content }),
    )
      .then((res) => {
        const latency = performance.now() - t0;
        done.push({
          id: m.id,
          owner,
          outcome: { kind: 'sent', webhookResponseMessageId: res.text.slice(0, 64), sentAt: new Date() },
          attempt: {
            message_id: m.id,
            attempt: m.attempts + 1,
            started_at: startedAt,
            latency_ms: latency,
            status_code: res.statusCode,
            error: null,
            outcome: 'sent',
          },
        });
        delivered++;
      })
      .catch((err: unknown) => (failure = err))
      .finally(() => {
        inFlight--;
        pump();
      });
  };

  function pump(): void {
    if (failure !== null) {
      if (inFlight === 0 && rounds === 0) finish();
      return;
    }
    while (inFlight < concurrency) {
      const m = ready.shift();
      if (!m) break;
      send(m);
    }
    const room = concurrency + prefetch - inFlight - ready.length - claiming;
    const limit = Math.min(room, wanted);
    if (rounds < 2 && limit > 0 && limit >= Math.min(minClaim, wanted)) round(limit);
    else if (wanted === 0 && inFlight === 0 && rounds === 0 && ready.length === 0) {
      // the last outcomes, then done
      if (done.length > 0) round(0);
      else finish();
    }
  }

  pump();
  await finished;
  await pool.close();
  if (failure !== null) throw failure;
  return delivered;
}
