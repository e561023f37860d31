import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import Database from 'better-sqlite3';
import { sqliteFactory } from '../helpers/services.js';
import { storeContract } from './store-contract.js';
import { keyStoreContract } from './key-store-contract.js';
import { controlStoreContract } from './control-store-contract.js';
import { destinationStoreContract } from './destination-store-contract.js';
import { scheduleStoreContract } from './schedule-store-contract.js';
import { messageDestinationContract } from './message-destination-contract.js';
import { destinationHealthContract } from './destination-health-contract.js';
import { dashboardContract } from './dashboard-contract.js';
import { SqliteStore } from '../../src/store/sqlite/sqlite-store.js';
import { SQLITE_MIGRATIONS } from '../../src/store/sqlite/schema.js';
import { orderOf } from '../../src/store/store.js';

const factory = sqliteFactory();
storeContract(factory);
keyStoreContract(factory);
controlStoreContract(factory);
destinationStoreContract(factory);
scheduleStoreContract(factory);
messageDestinationContract(factory);
destinationHealthContract(factory);
dashboardContract(factory);

test('SQLite: a database made by schema version 2 upgrades and keeps its delivery attempts', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'ms-migrate-'));
  const path = join(dir, 'messages.db');
  try {
    const old = new Database(path);
    for (const sql of SQLITE_MIGRATIONS.slice(0, 2)) old.exec(sql);
    old.pragma('user_version = 2');
    const insert = old.prepare(
      `INSERT INTO delivery_attempts (message_id, attempt, started_at, latency_ms, status_code, error, outcome)
       VALUES (?, ?, ?, ?, ?, ?, ?)`,
    );
    insert.run('m1', 1, 1000, 12.5, 500, 'HTTP 500', 'retry');
    insert.run('m1', 2, 2000, 3, 200, null, 'sent');
    insert.run('m1', 2, 2000, 3, 200, null, 'sent'); // a replayed attempt: kept once
    old.close();

    const store = new SqliteStore({ path });
    await store.init();
    const attempts = await store.attempts('m1');
    await store.close();
    assert.deepEqual(
      attempts.map((a) => [a.attempt, a.started_at.getTime(), a.status_code, a.outcome]),
      [
        [1, 1000, 500, 'retry'],
        [2, 2000, 200, 'sent'],
      ],
    );
    const db = new Database(path, { readonly: true });
    assert.equal(db.pragma('user_version', { simple: true }), SQLITE_MIGRATIONS.length);
    db.close();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('SQLite: listing by any status, or the sent page, reads an index of that status only', async () => {
  const { MESSAGE_STATUSES } = await import('../../src/domain/message.js');
  const dir = mkdtempSync(join(tmpdir(), 'ms-plan-'));
  const store = new SqliteStore({ path: join(dir, 'messages.db') });
  try {
    await store.init();
    const after = { at: new Date(), id: 'f'.repeat(24), priority: 0, created: new Date() };
    const plans: [string, string][] = MESSAGE_STATUSES.map((status) => [
      status,
      store.explainList({ order: orderOf(status), status, limit: 100 }),
    ]);
    plans.push(['sent page', store.explainList({ order: 'sent', limit: 100 })]);
    plans.push([
      'unsent, second page',
      store.explainList({ order: 'due', status: 'unsent', limit: 100, after }),
    ]);
    plans.push([
      'failed, second page',
      store.explainList({ order: 'created', status: 'failed', limit: 100, after }),
    ]);
    for (const [what, plan] of plans) {
      // a partial index of that status (or the lease index for the few in flight), never the
      // all-rows created index filtered, never a table scan
      assert.match(
        plan,
        /USING (COVERING )?INDEX messages_(due|lease|sent|failed|invalid|cancelled|unknown)\b/,
        `${what}: ${plan}`,
      );
      assert.doesNotMatch(plan, /messages_created|SCAN messages$/m, `${what}: ${plan}`);
    }
  } finally {
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  }
});
