import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { testApp, waitFor } from './helpers/app.js';
import { mongoFactory, postgresFactory, serviceUrl, sqliteFactory, uniqueName } from './helpers/services.js';
import { ClusterNode, type LocalPool } from '../src/cluster/cluster-node.js';
import { silentLogger } from '../src/logging/logger.js';
import type { SharedPoolState } from '../src/store/control-store.js';

function fakePool(state: SharedPoolState = 'running'): LocalPool & { state: SharedPoolState } {
  return {
    state,
    inFlightCount: 0,
    getState() {
      return this.state;
    },
    pause() {
      this.state = 'paused';
    },
    resume() {
      this.state = 'running';
    },
  };
}

describe('one pool state for the cluster', () => {
  test('two nodes on one PostgreSQL store: a pause on either holds on both within 1 s; a restarted node comes up paused', async (ctx) => {
    const url = serviceUrl('DATABASE_URL');
    if (!url) return ctx.skip('DATABASE_URL not set');
    const env = {
      DATABASE_URL: url,
      DATABASE_SCHEMA: uniqueName('cluster'),
      POOL_INITIAL_JOB_FETCH: 'true',
      POOL_STATE_SYNC_INTERVAL: '200ms',
    };
    const a = await testApp(env);
    const b = await testApp(env);
    let c: Awaited<ReturnType<typeof testApp>> | null = null;
    try {
      assert.equal(a.app.pool.getState(), 'running');
      assert.equal(b.app.pool.getState(), 'running');
      const t0 = Date.now();
      const r = await a.app.server.inject({
        method: 'PUT',
        url: '/worker-pool/state',
        payload: { action: 'pause' },
      });
      assert.deepEqual(r.json(), { status: 'paused' });
      assert.equal(a.app.pool.getState(), 'paused');
      await waitFor(() => b.app.pool.getState() === 'paused', 2000, 'node b paused');
      const lag = Date.now() - t0;
      assert.ok(lag < 1000, `node b paused ${lag} ms after the answer`);

      // both nodes listed, each with its own view
      const state = (await b.app.server.inject('/worker-pool/state')).json() as {
        status: string;
        nodes: { id: string; state: string; role: string }[];
      };
      assert.equal(state.status, 'paused');
      assert.deepEqual(state.nodes.map((n) => n.id).sort(), [a.app.nodeId, b.app.nodeId].sort());
      await waitFor(
        async () => {
          const nodes = (await a.app.server.inject('/nodes')).json() as { id: string; state: string }[];
          return nodes.length === 2 && nodes.every((n) => n.state === 'paused');
        },
        5000,
        'heartbeats report paused',
      );

      // a node started now follows the stored state, not pool.initialJobFetch
      c = await testApp(env);
      assert.equal(c.app.pool.getState(), 'paused');
      await c.app.server.inject({ method: 'PUT', url: '/worker-pool/state', payload: { action: 'start' } });
      await waitFor(
        () => a.app.pool.getState() === 'running' && b.app.pool.getState() === 'running',
        2000,
        'all running',
      );
      // a node that stops cleanly takes itself out of the list
      const gone = c.app.nodeId;
      await c.cleanup();
      c = null;
      assert.ok(!(await a.app.store.control.listNodes()).some((n) => n.id === gone));
    } finally {
      await c?.cleanup();
      await b.cleanup();
      await a.cleanup();
      const { PostgresStore } = await import('../src/store/postgres/postgres-store.js');
      const s = new PostgresStore({ connectionString: url, schema: env.DATABASE_SCHEMA });
      await s.dropSchema();
      await s.close();
    }
  });

  test('pool.initialJobFetch applies while no state is stored', async () => {
    const t = await testApp({ POOL_INITIAL_JOB_FETCH: 'true' });
    try {
      assert.equal(t.app.pool.getState(), 'running');
      assert.equal(await t.app.store.control.getPoolState(), null);
      assert.deepEqual(
        (await t.app.store.control.listNodes()).map((n) => n.id),
        [t.app.nodeId],
      );
    } finally {
      await t.cleanup();
    }
  });
});

describe('node liveness (driven by tick() with a clock)', () => {
  for (const factory of [sqliteFactory(), postgresFactory(), mongoFactory()])
    test(`${factory.name}: a dead node's leases are recovered by a live one at nodeTimeout, not at lease expiry`, async (ctx) => {
      if (!factory.available) return ctx.skip('DATABASE_URL not set');
      const { store, drop } = await factory.create();
      try {
        let now = Date.parse('2026-01-01T00:00:00Z');
        const clock = () => now;
        const opts = {
          control: store.control,
          messages: store,
          role: 'all',
          version: 't',
          heartbeatMs: 1000,
          nodeTimeoutMs: 6000,
          stateSyncMs: 500,
          initialState: 'running' as const,
          atMostOnce: false,
          logger: silentLogger(),
          now: clock,
        };
        const dead = new ClusterNode({ ...opts, pool: fakePool(), nodeId: 'dead-node' });
        const live = new ClusterNode({ ...opts, pool: fakePool(), nodeId: 'live-node' });
        await dead.tick();
        await live.tick();
        await store.create(
          Array.from({ length: 4 }, (_, i) => ({
            content: `m${i}`,
            recipient_phone_number: `+9055500000${i}`,
          })),
          new Date(now),
        );
        const held = await store.claim({
          owner: 'dead-node',
          limit: 3,
          now: new Date(now),
          leaseMs: 300_000,
        });
        assert.equal(held.length, 3);
        // the dead node goes silent; the live one keeps beating
        for (let s = 1; s <= 6; s++) {
          now += 1000;
          await live.tick();
        }
        assert.equal((await store.countByStatus()).processing, 3, 'not yet: silent for exactly nodeTimeout');
        now += 1000;
        await live.tick();
        const counts = await store.countByStatus();
        assert.equal(counts.processing, 0);
        assert.equal(counts.unsent, 4);
        assert.deepEqual(
          (await live.nodes()).map((n) => n.id),
          ['live-node'],
        );
        assert.deepEqual(
          (await store.control.listNodes()).map((n) => n.id),
          ['live-node'],
        );
      } finally {
        await drop();
      }
    });

  test('a node that cannot heartbeat is fenced after nodeTimeout / 2, and knows it was once it can again', async () => {
    let now = 0;
    let failing = false;
    const rows: unknown[] = [];
    const control = {
      getPoolState: async () => null,
      setPoolState: async () => {
        throw new Error('unused');
      },
      heartbeat: async (n: unknown) => {
        if (failing) throw new Error('store unreachable');
        rows.push(n);
      },
      listNodes: async () => [],
      removeNodes: async () => undefined,
    };
    const node = new ClusterNode({
      control,
      messages: { recoverOwners: async () => 0 },
      pool: fakePool(),
      nodeId: 'n',
      role: 'all',
      version: 't',
      heartbeatMs: 1000,
      nodeTimeoutMs: 6000,
      stateSyncMs: 500,
      initialState: 'running',
      atMostOnce: false,
      logger: silentLogger(),
      now: () => now,
    });
    await node.tick();
    assert.equal(node.fence.fenced(), false);
    const gen = node.fence.generation();
    failing = true;
    for (let s = 1; s <= 3; s++) {
      now += 1000;
      await assert.rejects(node.tick());
    }
    assert.equal(node.fence.fenced(), false, 'at exactly nodeTimeout / 2: not yet');
    now += 1;
    assert.equal(node.fence.fenced(), true);
    failing = false;
    now += 5000;
    await node.tick();
    assert.equal(node.fence.fenced(), false);
    assert.equal(node.fence.generation(), gen + 1, 'the gap is known: what was claimed before is dropped');
    // its heartbeat said so while it was stale: the first row after the gap
    assert.equal((rows.at(-1) as { state: string }).state, 'stale');
  });
});
