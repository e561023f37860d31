import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { DestinationSpec } from '../../src/domain/destination.js';
import { StoreError } from '../../src/store/store-errors.js';
import type { StoreFactory } from '../helpers/services.js';
import { contractSuite } from './suite.js';

const T0 = new Date('2026-01-01T00:00:00.000Z');
const at = (ms: number): Date => new Date(T0.getTime() + ms);

function spec(extra: Partial<DestinationSpec> = {}): DestinationSpec {
  return {
    url: 'https://receiver.example/hooks',
    description: 'billing — the ledger service',
    headers: { 'x-tenant': 'acme' },
    secrets: [
      {
        secret: 'whsec_' + Buffer.from('first-secret-first-secret-32b!!!').toString('base64'),
        expires_at: at(86_400_000),
      },
      {
        secret: 'whsec_' + Buffer.from('second-secret-second-secret-32b!').toString('base64'),
        expires_at: null,
      },
    ],
    timeout_ms: 5000,
    rate_limit: { limit: 10, period_ms: 1000, burst: 20 },
    max_in_flight: 4,
    retry: { max_attempts: 5, base_delay_ms: 500, max_delay_ms: 60_000, max_age_ms: null },
    topics: ['invoice.paid', 'invoice.failed'],
    metadata: { team: 'billing', ünïcode: '✓' },
    ...extra,
  };
}

/** The destinations part of the storage contract: round trip, pages, topics, versions, status. */
export function destinationStoreContract(factory: StoreFactory): void {
  contractSuite('destination store contract', factory, (store) => {
    test('create and get round-trip every field; a taken id is a conflict; delete', async () => {
      const d = store().destinations;
      const made = await d.createDestination('billing', spec(), T0);
      assert.equal(made.status, 'active');
      assert.equal(made.version, 1);
      const got = await d.getDestination('billing');
      assert.deepEqual(got, made);
      assert.deepEqual(
        { ...got, created_at: undefined, updated_at: undefined },
        {
          id: 'billing',
          ...spec(),
          status: 'active',
          disabled_reason: null,
          disabled_at: null,
          version: 1,
          created_at: undefined,
          updated_at: undefined,
        },
      );
      assert.equal(got?.created_at.toISOString(), T0.toISOString());
      assert.ok(got?.secrets[0]?.expires_at instanceof Date, 'expiries come back as dates');
      await assert.rejects(
        () => d.createDestination('billing', spec({ url: 'https://other.example/' }), at(1)),
        (err: unknown) => err instanceof StoreError && err.code === 'conflict',
      );
      assert.equal((await d.getDestination('billing'))?.url, 'https://receiver.example/hooks');
      assert.equal(await d.getDestination('nope'), null);
      assert.equal(await d.deleteDestination('billing'), true);
      assert.equal(await d.deleteDestination('billing'), false);
      assert.equal(await d.getDestination('billing'), null);
    });

    test('lists by id in pages, and by topic', async () => {
      const d = store().destinations;
      for (const [id, topics] of [
        ['c-orders', ['order.created']],
        ['a-billing', ['invoice.paid', 'order.created']],
        ['b-audit', []],
        ['d-invoices', ['invoice.paid']],
      ] as const) {
        await d.createDestination(id, spec({ topics: [...topics] }), T0);
      }
      const ids = async (q: Parameters<typeof d.listDestinations>[0]) =>
        (await d.listDestinations(q)).map((x) => x.id);
      assert.deepEqual(await ids({ limit: 10 }), ['a-billing', 'b-audit', 'c-orders', 'd-invoices']);
      assert.deepEqual(await ids({ limit: 2 }), ['a-billing', 'b-audit']);
      assert.deepEqual(await ids({ limit: 2, after: 'b-audit' }), ['c-orders', 'd-invoices']);
      assert.deepEqual(await ids({ limit: 10, topic: 'invoice.paid' }), ['a-billing', 'd-invoices']);
      assert.deepEqual(await ids({ limit: 10, topic: 'order.created', after: 'a-billing' }), ['c-orders']);
      assert.deepEqual(await ids({ limit: 10, topic: 'invoice' }), [], 'a topic matches whole');
    });

    test('update replaces the given fields only, bumps the version, and honours the version read', async () => {
      const d = store().destinations;
      await d.createDestination('billing', spec(), T0);
      const u = await d.updateDestination(
        'billing',
        { url: 'https://new.example/in', rate_limit: null },
        at(5),
      );
      assert.equal(u?.url, 'https://new.example/in');
      assert.equal(u?.rate_limit, null);
      assert.deepEqual(u?.topics, spec().topics, 'the fields not given are kept');
      assert.equal(u?.version, 2);
      assert.equal(u?.updated_at.toISOString(), at(5).toISOString());
      assert.deepEqual(await d.getDestination('billing'), u);
      // a writer that read version 1 lost: nothing changes
      assert.equal(await d.updateDestination('billing', { description: 'stale' }, at(6), 1), null);
      assert.equal((await d.getDestination('billing'))?.description, spec().description);
      const v3 = await d.updateDestination('billing', { description: 'fresh' }, at(7), 2);
      assert.equal(v3?.version, 3);
      assert.equal(await d.updateDestination('nope', { description: 'x' }, at(8)), null);
    });

    test('status: paused, disabled with a reason and a time, active again clears them', async () => {
      const d = store().destinations;
      await d.createDestination('billing', spec(), T0);
      assert.equal(
        (await d.setDestinationStatus('billing', 'paused', 'ignored', at(1)))?.disabled_reason,
        null,
      );
      const off = await d.setDestinationStatus('billing', 'disabled', 'failing for 5 days', at(2));
      assert.equal(off?.status, 'disabled');
      assert.equal(off?.disabled_reason, 'failing for 5 days');
      assert.equal(off?.disabled_at?.toISOString(), at(2).toISOString());
      const on = await d.setDestinationStatus('billing', 'active', null, at(3));
      assert.equal(on?.status, 'active');
      assert.equal(on?.disabled_reason, null);
      assert.equal(on?.disabled_at, null);
      assert.equal(on?.version, 4, 'each change bumps the version');
      assert.equal(await d.setDestinationStatus('nope', 'paused', null, at(4)), null);
    });
  });
}
