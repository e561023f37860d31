/**
 * Versioned migrations of the PostgreSQL store, applied in order at start
 * under an advisory lock (several nodes may start at once). Never edit a
 * released migration: add a new one.
 */
export const PG_MIGRATIONS: readonly { version: number; name: string; sql: string }[] = [
  {
    version: 1,
    name: 'messages and delivery attempts',
    sql: `
      CREATE TABLE messages (
        id text PRIMARY KEY,
        webhook_response_message_id text,
        content text NOT NULL,
        recipient_phone_number text NOT NULL,
        status text NOT NULL,
        created_at timestamptz NOT NULL,
        sent_at timestamptz,
        send_at timestamptz NOT NULL,
        due_at timestamptz NOT NULL,
        priority integer NOT NULL DEFAULT 0,
        attempts integer NOT NULL DEFAULT 0,
        last_error text,
        updated_at timestamptz NOT NULL,
        processing_started_at timestamptz,
        lease_owner text,
        lease_expires_at timestamptz,
        webhook_id text NOT NULL,
        idempotency_key text UNIQUE,
        request_hash text
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
        message_id text NOT NULL,
        attempt integer NOT NULL,
        started_at timestamptz NOT NULL,
        latency_ms double precision NOT NULL,
        status_code integer,
        error text,
        outcome text NOT NULL
      );
      CREATE INDEX delivery_attempts_message ON delivery_attempts (message_id, attempt);`,
  },
  {
    version: 2,
    name: 'at-most-once: messages whose outcome is unknown',
    sql: `CREATE INDEX messages_unknown ON messages (created_at DESC, id DESC) WHERE status = 'unknown';`,
  },
  {
    version: 3,
    name: 'idempotency keys: a partial unique index, without the rows that have none',
    // an update that changes status is never HOT, so it adds an entry to every index whose
    // predicate the row meets: the UNIQUE constraint indexed every keyless row, twice per delivery
    sql: `
      CREATE UNIQUE INDEX messages_idempotency_key ON messages (idempotency_key) WHERE idempotency_key IS NOT NULL;
      ALTER TABLE messages DROP CONSTRAINT messages_idempotency_key_key;`,
  },
  {
    version: 4,
    name: 'API keys (hashes only)',
    sql: `
      CREATE TABLE api_keys (
        id text PRIMARY KEY,
        name text NOT NULL,
        scopes text NOT NULL,
        hash text NOT NULL UNIQUE,
        created_at timestamptz NOT NULL,
        last_used_at timestamptz,
        revoked_at timestamptz
      );`,
  },
  {
    version: 5,
    name: "the cluster's pool state and the nodes' heartbeats",
    sql: `
      CREATE TABLE control (
        key text PRIMARY KEY,
        value text NOT NULL,
        updated_at timestamptz NOT NULL,
        updated_by text NOT NULL
      );
      CREATE TABLE nodes (
        id text PRIMARY KEY,
        role text NOT NULL,
        state text NOT NULL,
        in_flight integer NOT NULL,
        version text NOT NULL,
        started_at timestamptz NOT NULL,
        last_seen timestamptz NOT NULL
      );`,
  },
  {
    version: 6,
    name: 'the trace context of the request that created a message, for its deliveries',
    // no default and nullable: a metadata-only change, instant on a table of any size
    sql: `ALTER TABLE messages ADD COLUMN trace_context text;`,
  },
  {
    version: 7,
    name: 'when an API key stops letting anyone in',
    sql: `ALTER TABLE api_keys ADD COLUMN expires_at timestamptz;`,
  },
  {
    version: 8,
    name: 'destinations: receivers with their own URL, secrets and limits',
    sql: `
      CREATE TABLE destinations (
        id text PRIMARY KEY,
        spec jsonb NOT NULL,
        status text NOT NULL,
        disabled_reason text,
        disabled_at timestamptz,
        created_at timestamptz NOT NULL,
        updated_at timestamptz NOT NULL,
        version integer NOT NULL
      );`,
  },
  {
    version: 9,
    name: 'messages name their destination and fan-out group; attempts record where they went',
    // nullable, no defaults: metadata-only changes, instant on a table of any size. The indexes
    // serve GET /messages?destination= and ?group_id= (CREATE INDEX locks writes while it builds:
    // run \`migrate\` before a large upgrade, as docs/cluster.md says)
    sql: `
      ALTER TABLE messages ADD COLUMN destination_id text;
      ALTER TABLE messages ADD COLUMN group_id text;
      ALTER TABLE messages ADD COLUMN topic text;
      CREATE INDEX messages_destination ON messages (destination_id, created_at DESC, id DESC)
        WHERE destination_id IS NOT NULL;
      CREATE INDEX messages_group ON messages (group_id, created_at DESC, id DESC) WHERE group_id IS NOT NULL;
      ALTER TABLE delivery_attempts ADD COLUMN destination_id text;
      ALTER TABLE delivery_attempts ADD COLUMN url text;`,
  },
  {
    version: 10,
    name: "flow control per destination: each destination's due messages in an index range of their own",
    // messages_due keeps `default`'s unsent messages only; each destination's are claimed from its own
    // range of messages_lane, so a held destination's backlog is never read by the others' claims;
    // messages_due_routed lists them in delivery order. A message is in exactly one of messages_due and
    // messages_lane, as it was in messages_due alone, so a delivery of `default` costs what it did.
    sql: `
      DROP INDEX messages_due;
      CREATE INDEX messages_due ON messages (priority DESC, due_at, created_at)
        WHERE status = 'unsent' AND destination_id IS NULL;
      CREATE INDEX messages_lane ON messages (destination_id, priority DESC, due_at, created_at)
        WHERE status = 'unsent' AND destination_id IS NOT NULL;
      CREATE INDEX messages_due_routed ON messages (priority DESC, due_at, created_at)
        WHERE status = 'unsent' AND destination_id IS NOT NULL;`,
  },
  {
    version: 11,
    name: "each destination's circuit breaker, shared by the nodes; its attempts by outcome and time",
    // circuits change by compare-and-set on rev (two nodes that decide the same change make it once);
    // the attempts index serves GET /destinations/{id}'s health and holds only attempts of a
    // destination of its own: `default`'s attempts add no index entry
    sql: `
      CREATE TABLE destination_circuits (
        destination_id text PRIMARY KEY,
        state text NOT NULL,
        opened_at timestamptz,
        until timestamptz,
        probe_owner text,
        failing_since timestamptz,
        rev integer NOT NULL,
        updated_at timestamptz NOT NULL
      );
      CREATE INDEX delivery_attempts_destination ON delivery_attempts (destination_id, outcome, started_at)
        WHERE destination_id IS NOT NULL;`,
  },
  {
    version: 12,
    name: 'schedules: messages sent on a calendar, exactly once per occurrence',
    // the scheduler reads the active schedules by next_run_at: one range of a partial index, whatever
    // the number of paused and ended ones
    sql: `
      CREATE TABLE schedules (
        id text PRIMARY KEY,
        spec jsonb NOT NULL,
        status text NOT NULL,
        next_run_at timestamptz,
        last_run_at timestamptz,
        run_count integer NOT NULL,
        created_at timestamptz NOT NULL,
        updated_at timestamptz NOT NULL,
        version integer NOT NULL
      );
      CREATE INDEX schedules_due ON schedules (next_run_at) WHERE status = 'active';`,
  },
  {
    version: 13,
    name: "the dashboard: messages by recipient, and each node's recent activity",
    // one recipient's messages newest first (GET /messages?recipient=); each node's deliveries and
    // failures per minute and lateness, written with its heartbeat (the overview sums the nodes')
    sql: `
      CREATE INDEX messages_recipient ON messages (recipient_phone_number, created_at DESC, id DESC);
      ALTER TABLE nodes ADD COLUMN activity text;
      ALTER TABLE delivery_attempts ADD COLUMN node text;`,
  },
];
