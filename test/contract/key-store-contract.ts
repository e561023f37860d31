import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { StoreFactory } from '../helpers/services.js';
import { contractSuite } from './suite.js';

const T0 = new Date('2026-01-01T00:00:00.000Z');
const at = (ms: number): Date => new Date(T0.getTime() + ms);
const hash = (c: string): string => c.repeat(64);

/** The API-key part of the storage contract: every adapter, the same cases. */
export function keyStoreContract(factory: StoreFactory): void {
  contractSuite('key store contract', factory, (store) => {
    test('a key round-trips; the list is oldest first and holds only hashes', async () => {
      const a = await store().keys.createKey(
        {
          id: 'aaaaaaaaaaaa',
          name: 'ci',
          scopes: ['messages:read', 'messages:write'],
          hash: hash('a'),
          expires_at: null,
        },
        T0,
      );
      assert.deepEqual(a, {
        id: 'aaaaaaaaaaaa',
        name: 'ci',
        scopes: ['messages:read', 'messages:write'],
        hash: hash('a'),
        created_at: T0,
        last_used_at: null,
        revoked_at: null,
        expires_at: null,
      });
      await store().keys.createKey(
        { id: 'bbbbbbbbbbbb', name: 'ops', scopes: ['admin'], hash: hash('b'), expires_at: null },
        at(1),
      );
      const list = await store().keys.listKeys();
      assert.deepEqual(
        list.map((k) => [k.id, k.name, k.scopes, k.created_at.getTime()]),
        [
          ['aaaaaaaaaaaa', 'ci', ['messages:read', 'messages:write'], T0.getTime()],
          ['bbbbbbbbbbbb', 'ops', ['admin'], at(1).getTime()],
        ],
      );
    });

    test('a key keeps its expiry time; keys made before keys could expire read as never expiring', async () => {
      const exp = at(90);
      const made = await store().keys.createKey(
        { id: 'eeeeeeeeeeee', name: 'temp', scopes: ['messages:read'], hash: hash('e'), expires_at: exp },
        T0,
      );
      assert.equal(made.expires_at?.getTime(), exp.getTime());
      const listed = (await store().keys.listKeys()).find((k) => k.id === 'eeeeeeeeeeee');
      assert.equal(listed?.expires_at?.getTime(), exp.getTime());
      const revoked = await store().keys.revokeKey('eeeeeeeeeeee', at(5));
      assert.equal(revoked?.expires_at?.getTime(), exp.getTime());
    });

    test('the same id or the same hash cannot be stored twice', async () => {
      await store().keys.createKey(
        { id: 'aaaaaaaaaaaa', name: 'x', scopes: ['admin'], hash: hash('a'), expires_at: null },
        T0,
      );
      await assert.rejects(
        store().keys.createKey(
          { id: 'aaaaaaaaaaaa', name: 'y', scopes: ['admin'], hash: hash('c'), expires_at: null },
          T0,
        ),
      );
      await assert.rejects(
        store().keys.createKey(
          { id: 'cccccccccccc', name: 'y', scopes: ['admin'], hash: hash('a'), expires_at: null },
          T0,
        ),
      );
      assert.equal((await store().keys.listKeys()).length, 1);
    });

    test('revoke is idempotent and keeps the first time; an unknown id is null', async () => {
      await store().keys.createKey(
        { id: 'aaaaaaaaaaaa', name: 'x', scopes: ['admin'], hash: hash('a'), expires_at: null },
        T0,
      );
      const first = await store().keys.revokeKey('aaaaaaaaaaaa', at(10));
      assert.equal(first?.revoked_at?.getTime(), at(10).getTime());
      const again = await store().keys.revokeKey('aaaaaaaaaaaa', at(20));
      assert.equal(again?.revoked_at?.getTime(), at(10).getTime());
      assert.equal(await store().keys.revokeKey('nonesuch0000', at(30)), null);
      const [listed] = await store().keys.listKeys();
      assert.equal(listed?.revoked_at?.getTime(), at(10).getTime());
    });

    test('touch records the latest use only, for many keys at once', async () => {
      await store().keys.createKey(
        { id: 'aaaaaaaaaaaa', name: 'x', scopes: ['admin'], hash: hash('a'), expires_at: null },
        T0,
      );
      await store().keys.createKey(
        { id: 'bbbbbbbbbbbb', name: 'y', scopes: ['admin'], hash: hash('b'), expires_at: null },
        T0,
      );
      await store().keys.touchKeys([
        { id: 'aaaaaaaaaaaa', at: at(100) },
        { id: 'bbbbbbbbbbbb', at: at(50) },
        { id: 'missing00000', at: at(50) },
      ]);
      await store().keys.touchKeys([{ id: 'aaaaaaaaaaaa', at: at(60) }]);
      await store().keys.touchKeys([]);
      const list = await store().keys.listKeys();
      assert.deepEqual(
        list.map((k) => k.last_used_at?.getTime()),
        [at(100).getTime(), at(50).getTime()],
      );
    });
  });
}
