import pg from 'pg';
import { Pool } from 'undici';
import { post } from '../src/delivery/webhook-client.js';
import { pgStatement } from './targets.js';

/** Messages one claim takes, as the reference does. */
const BATCH = 50;
/** Its connection pool. */
const CONNECTIONS = 10;

/** The index the reference's claim reads: the unsent messages by id, as its author would make it. */
export function referenceIndex(url: string, schema: string): Promise<void> {
  return pgStatement(
    url,
    `CREATE INDEX IF NOT EXISTS reference_unsent ON "${schema}".messages (id) WHERE status = 'unsent'`,
  );
}

/**
 * The yardstick of issue 27: what hand-written SQL does on the same PostgreSQL, the same receiver
 * and the same concurrency, with none of the service's guarantees beyond "claimed once":
 *
 *   claim 50: UPDATE messages SET status = 'processing' WHERE id IN (SELECT id FROM messages
 *             WHERE status = 'unsent' ORDER BY id LIMIT 50 FOR UPDATE SKIP LOCKED) RETURNING …
 *   POST each (the service's own HTTP code, `concurrency` connections in all)
 *   record:   one UPDATE messages … FROM unnest($ids, $response_ids) per batch
 *
 * No attempt rows, no lease expiry or owner, no liveness, no retry policy: the service's distance to
 * it is what those cost, and what its own round trips and commits cost beyond them.
 * Loops enough to keep `concurrency` requests in flight: each claims a batch, posts it, records it.
 */
export async function referenceDeliver(
  url: string,
  schema: string,
  sinkUrl: string,
  n: number,
  concurrency: number,
  headers: (webhookId: string) => Record<string, string>,
  /** called when the last message is recorded, before the connections close (their server processes' CPU is read then) */
  done?: () => void,
): Promise<number> {
  const db = new pg.Pool({
    connectionString: url,
    max: CONNECTIONS,
    options: `-c search_path="${schema}"`,
  });
  const http = new Pool(sinkUrl, { connections: concurrency, pipelining: 1 });
  let delivered = 0;
  const loops = Math.max(2, Math.ceil(concurrency / BATCH) + 1);
  try {
    await Promise.all(
      Array.from({ length: loops }, async () => {
        for (;;) {
          const { rows } = await db.query<{ id: string; webhook_id: string; content: string; to: string }>(
            `UPDATE messages SET status = 'processing', updated_at = now()
             WHERE id IN (SELECT id FROM messages WHERE status = 'unsent' ORDER BY id LIMIT ${BATCH}
                          FOR UPDATE SKIP LOCKED)
             RETURNING id, webhook_id, content, recipient_phone_number AS to`,
          );
          if (rows.length === 0) return;
          const answers = await Promise.all(
            rows.map(async (m) => {
              const res = await post(
                http,
                '/hook',
                headers(m.webhook_id),
                JSON.stringify({ to: m.to, content: m.content }),
              );
              return res.text.length > 0 ? res.text.slice(0, 100) : null;
            }),
          );
          await db.query(
            `UPDATE messages m SET status = 'sent', sent_at = now(), updated_at = now(), webhook_response_message_id = u.resp
             FROM unnest($1::text[], $2::text[]) AS u(id, resp) WHERE m.id = u.id`,
            [rows.map((r) => r.id), answers],
          );
          delivered += rows.length;
        }
      }),
    );
    done?.();
  } finally {
    await http.close();
    await db.end();
  }
  if (delivered > n) throw new Error(`reference: delivered ${delivered} of ${n}`);
  return delivered;
}
