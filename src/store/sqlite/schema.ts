/** Versioned migrations of the SQLite store; PRAGMA user_version holds the applied count. */
export const SQLITE_MIGRATIONS: readonly string[] = [
  `CREATE TABLE messages (
     id TEXT PRIMARY KEY,
     webhook_response_message_id TEXT,
     content TEXT NOT NULL,
     recipient_phone_number TEXT NOT NULL,
     status TEXT NOT NULL,
     created_at INTEGER NOT NULL,
     sent_at INTEGER,
     send_at INTEGER NOT NULL,
     due_at INTEGER NOT NULL,
     priority INTEGER NOT NULL DEFAULT 0,
     attempts INTEGER NOT NULL DEFAULT 0,
     last_error TEXT,
     updated_at INTEGER NOT NULL,
     processing_started_at INTEGER,
     lease_owner TEXT,
     lease_expires_at INTEGER,
     webhook_id TEXT NOT NULL,
     idempotency_key TEXT UNIQUE,
     request_hash TEXT
   );
   CREATE INDEX messages_due ON messages (priority DESC, due_at, created_at) WHERE status = 'unsent';
   CREATE INDEX messages_lease ON messages (lease_expires_at) WHERE status = 'processing';
   CREATE INDEX messages_sent ON messages (sent_at DESC, id DESC) WHERE status = 'sent';
   CREATE INDEX messages_created ON messages (created_at DESC, id DESC);
   -- listing by status: sent has messages_sent; the rare end states get a partial index each, so the
   -- hot path (unsent → processing → sent) maintains no status index beyond messages_due
   CREATE INDEX messages_failed ON messages (created_at DESC, id DESC) WHERE status = 'failed';
   CREATE INDEX messages_invalid ON messages (created_at DESC, id DESC) WHERE status = 'invalid_content';
   CREATE INDEX messages_cancelled ON messages (created_at DESC, id DESC) WHERE status = 'cancelled';
   CREATE TABLE delivery_attempts (
     message_id TEXT NOT NULL,
     attempt INTEGER NOT NULL,
     started_at INTEGER NOT NULL,
     latency_ms REAL NOT NULL,
     status_code INTEGER,
     error TEXT,
     outcome TEXT NOT NULL
   );
   CREATE INDEX delivery_attempts_message ON delivery_attempts (message_id, attempt);`,
  // 2: at-most-once mode's held messages, listed like the other rare states
  `CREATE INDEX messages_unknown ON messages (created_at DESC, id DESC) WHERE status = 'unknown';`,
  // 3: attempts clustered by message: one B-tree insert per attempt instead of a row plus an index
  // entry. The key also makes a replayed attempt (same message, number and start) one row.
  `CREATE TABLE delivery_attempts_v3 (
     message_id TEXT NOT NULL,
     attempt INTEGER NOT NULL,
     started_at INTEGER NOT NULL,
     latency_ms REAL NOT NULL,
     status_code INTEGER,
     error TEXT,
     outcome TEXT NOT NULL,
     PRIMARY KEY (message_id, attempt, started_at)
   ) WITHOUT ROWID;
   INSERT OR IGNORE INTO delivery_attempts_v3
     SELECT message_id, attempt, started_at, latency_ms, status_code, error, outcome FROM delivery_attempts;
   DROP TABLE delivery_attempts;
   ALTER TABLE delivery_attempts_v3 RENAME TO delivery_attempts;`,
  // 4: API keys (hashes only)
  `CREATE TABLE api_keys (
     id TEXT PRIMARY KEY,
     name TEXT NOT NULL,
     scopes TEXT NOT NULL,
     hash TEXT NOT NULL UNIQUE,
     created_at INTEGER NOT NULL,
     last_used_at INTEGER,
     revoked_at INTEGER
   );`,
  // 5: the cluster's pool state and the nodes' heartbeats
  `CREATE TABLE control (
     key TEXT PRIMARY KEY,
     value TEXT NOT NULL,
     updated_at INTEGER NOT NULL,
     updated_by TEXT NOT NULL
   );
   CREATE TABLE nodes (
     id TEXT PRIMARY KEY,
     role TEXT NOT NULL,
     state TEXT NOT NULL,
     in_flight INTEGER NOT NULL,
     version TEXT NOT NULL,
     started_at INTEGER NOT NULL,
     last_seen INTEGER NOT NULL
   );`,
  // 6: the trace context of the request that created a message (tracing on), for its deliveries
  `ALTER TABLE messages ADD COLUMN trace_context TEXT;`,
  // 7: when an API key stops letting anyone in (null: never)
  `ALTER TABLE api_keys ADD COLUMN expires_at INTEGER;`,
  // 8: destinations (receivers with their own URL, secrets and limits): the spec as JSON
  `CREATE TABLE destinations (
     id TEXT PRIMARY KEY,
     spec TEXT NOT NULL,
     status TEXT NOT NULL,
     disabled_reason TEXT,
     disabled_at INTEGER,
     created_at INTEGER NOT NULL,
     updated_at INTEGER NOT NULL,
     version INTEGER NOT NULL
   );`,
  // 9: messages name their destination (null: the built-in default) and the fan-out they belong to;
  // attempts record where they went. Nullable columns without defaults: nothing to rewrite.
  `ALTER TABLE messages ADD COLUMN destination_id TEXT;
   ALTER TABLE messages ADD COLUMN group_id TEXT;
   ALTER TABLE messages ADD COLUMN topic TEXT;
   CREATE INDEX messages_destination ON messages (destination_id, created_at DESC, id DESC)
     WHERE destination_id IS NOT NULL;
   CREATE INDEX messages_group ON messages (group_id, created_at DESC, id DESC) WHERE group_id IS NOT NULL;
   ALTER TABLE delivery_attempts ADD COLUMN destination_id TEXT;
   ALTER TABLE delivery_attempts ADD COLUMN url TEXT;`,
  // 10: flow control per destination. messages_due keeps `default`'s unsent messages only; each
  // destination's are claimed from its own range of messages_lane, so a held destination's backlog is
  // never read by the others' claims; messages_due_routed lists them in delivery order (GET /messages).
  // A message is in exactly one of messages_due and messages_lane, as it was in messages_due alone.
  `DROP INDEX messages_due;
   CREATE INDEX messages_due ON messages (priority DESC, due_at, created_at)
     WHERE status = 'unsent' AND destination_id IS NULL;
   CREATE INDEX messages_lane ON messages (destination_id, priority DESC, due_at, created_at)
     WHERE status = 'unsent' AND destination_id IS NOT NULL;
   CREATE INDEX messages_due_routed ON messages (priority DESC, due_at, created_at)
     WHERE status = 'unsent' AND destination_id IS NOT NULL;`,
  // 11: each destination's circuit breaker, shared by the nodes (changed by compare-and-set on rev),
  // and its attempts by outcome and time, for its health (only attempts of a destination of its own:
  // `default`'s attempts add no index entry)
  `CREATE TABLE destination_circuits (
     destination_id TEXT PRIMARY KEY,
     state TEXT NOT NULL,
     opened_at INTEGER,
     until INTEGER,
     probe_owner TEXT,
     failing_since INTEGER,
     rev INTEGER NOT NULL,
     updated_at INTEGER NOT NULL
   );
   CREATE INDEX delivery_attempts_destination ON delivery_attempts (destination_id, outcome, started_at)
     WHERE destination_id IS NOT NULL;`,
  // 12: schedules (issue 25): the spec as JSON, the state in columns; the scheduler reads the active
  // ones by next_run_at, one range of an index that holds the active schedules only
  `CREATE TABLE schedules (
     id TEXT PRIMARY KEY,
     spec TEXT NOT NULL,
     status TEXT NOT NULL,
     next_run_at INTEGER,
     last_run_at INTEGER,
     run_count INTEGER NOT NULL,
     created_at INTEGER NOT NULL,
     updated_at INTEGER NOT NULL,
     version INTEGER NOT NULL
   );
   CREATE INDEX schedules_due ON schedules (next_run_at) WHERE status = 'active';`,
  // 13: the dashboard (issue 26): one recipient's messages newest first (GET /messages?recipient=), and
  // each node's recent activity in its heartbeat (deliveries and failures per minute, lateness)
  `CREATE INDEX messages_recipient ON messages (recipient_phone_number, created_at DESC, id DESC);
   ALTER TABLE nodes ADD COLUMN activity TEXT;
   ALTER TABLE delivery_attempts ADD COLUMN node TEXT;`,
];
