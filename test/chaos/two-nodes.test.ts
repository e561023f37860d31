import assert from 'node:assert/strict';
import { before, describe, test } from 'node:test';
import { Sink } from '../../bench/sink.js';
import { waitFor } from '../helpers/app.js';
import { fill, logLines, report, serve, services, target, type Service } from './helpers.js';

before(() => services('up'));

describe('two processes, one store', () => {
  // SQLite too: two processes on one file are safe (docs/decisions.md, "SQLite: several processes
  // on one file"): a claim is one write transaction, and SQLite runs one at a time
  const cases = [
    ['sqlite', 10_000],
    ['postgres', 20_000],
    ['mongodb', 2_000],
  ] as const;
  for (const [kind, n] of cases) {
    test(`${kind}: two nodes share ${n} messages and never deliver the same one`, async () => {
      const sink = new Sink({ port: 0, keep: 0 });
      const sinkUrl = `http://127.0.0.1:${await sink.start()}/hook`;
      const t = target(kind);
      const store = await t.open();
      const nodes: Service[] = [];
      try {
        await fill(store, n);
        // the default 5-minute lease: no lease may expire in this run, so any repeat is a bug
        const env = { ...t.env, LOG_LEVEL: 'info', POOL_INITIAL_JOB_FETCH: 'false' };
        nodes.push(await serve(env, sinkUrl), await serve(env, sinkUrl));
        const t0 = Date.now();
        for (const node of nodes) {
          const r = await fetch(`${node.url}/worker-pool/state`, {
            method: 'PUT',
            headers: { 'content-type': 'application/json' },
            body: JSON.stringify({ action: 'start' }),
          });
          assert.equal(r.status, 200);
        }
        await waitFor(async () => (await store.countByStatus()).sent === n, 300_000, `${n} sent on ${kind}`);
        const seconds = (Date.now() - t0) / 1000;
        const perNode: Record<string, number>[] = [];
        for (const node of nodes.splice(0)) {
          assert.equal(await node.stop('SIGTERM'), 0);
          const stopped = logLines(node).find((l) => l.msg === 'worker pool stopped');
          perNode.push({
            sent: Number(stopped?.sent),
            lost_lease: Number(stopped?.lost_lease),
            claimed: Number(stopped?.claimed),
          });
        }
        const stats = sink.stats();
        report(`two-nodes/${kind}`, {
          messages: n,
          seconds,
          per_node: perNode,
          duplicates: stats.duplicates,
        });
        assert.equal(stats.duplicates, 0, 'no message delivered by both');
        assert.equal(stats.unique_webhook_ids, n);
        assert.equal(
          perNode.reduce((a, p) => a + (p.sent ?? 0), 0),
          n,
          'the nodes’ own counts add up to the messages',
        );
        assert.ok(
          perNode.every((p) => (p.sent ?? 0) > 0),
          'both nodes delivered',
        );
        assert.ok(
          perNode.every((p) => p.lost_lease === 0),
          'no lease expired',
        );
      } finally {
        for (const node of nodes) await node.stop('SIGKILL');
        await store.close();
        await t.drop();
        await sink.stop();
      }
    });
  }
});
