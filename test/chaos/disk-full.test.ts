import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, openSync, rmSync, writeSync, closeSync, rmdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { Sink } from '../../bench/sink.js';
import { waitFor } from '../helpers/app.js';
import { fill, logLines, report, serve, target, type Service } from './helpers.js';

/** Writes zeros until the file system says ENOSPC; returns the filler's path. */
function fillDisk(dir: string): string {
  const file = join(dir, 'filler');
  const fd = openSync(file, 'w');
  const block = Buffer.alloc(64 * 1024);
  try {
    for (;;) writeSync(fd, block);
  } catch (err) {
    if ((err as { code?: string }).code !== 'ENOSPC') throw err;
  } finally {
    closeSync(fd);
  }
  return file;
}

describe('disk full under SQLite', () => {
  test('writes fail with STORE_FULL, nothing is reported sent that is not stored, and it recovers', async () => {
    // a 32 MiB tmpfs of our own (root only: CI runs as root; elsewhere this fails loudly, not skips)
    const dir = mkdtempSync(join(tmpdir(), 'ms-full-'));
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=32m', 'tmpfs', dir]);
    // slow enough (4 workers × 20 ms) that the run spans the full disk
    const sink = new Sink({ port: 0, keep: 0, latencyMs: 20 });
    const sinkUrl = `http://127.0.0.1:${await sink.start()}/hook`;
    const t = target('sqlite', dir);
    const store = await t.open();
    let svc: Service | null = null;
    let filler: string | null = null;
    try {
      const n = 4000;
      await fill(store, n);
      svc = await serve({ ...t.env, POOL_NUM_WORKERS: '4' }, sinkUrl);
      await waitFor(() => sink.stats().accepted >= 300, 60_000, '300 deliveries');
      filler = fillDisk(dir);
      // SQLite reuses the space its WAL already has, so writes fail once that is used up:
      // add messages until the API says the store is full
      let added = 0;
      let full: { status: number; code?: string; error?: string } | null = null;
      const batch = JSON.stringify({
        messages: Array.from({ length: 500 }, (_, i) => ({
          content: `${i} `.padEnd(150, 'x'),
          recipient_phone_number: '+1',
        })),
      });
      for (let i = 0; i < 200 && !full; i++) {
        const r = await fetch(`${svc.url}/messages/batch`, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: batch,
        });
        const body = (await r.json()) as { code?: string; error?: string };
        if (r.status === 201) added += 500;
        else full = { status: r.status, ...body };
      }
      // what the receiver got from now on cannot be recorded until space returns
      await waitFor(
        () => logLines(svc as Service).some((l) => l.msg === 'could not store delivery outcomes; retrying'),
        30_000,
        'the pool to report that it cannot store outcomes',
      );
      // everything the service reports as sent is in the store; what it delivered but could not
      // record is not reported as sent
      const accepted = sink.stats().accepted;
      const reported = (await (
        await fetch(`${svc.url}/messages?status=sent&limit=1000`)
      ).json()) as unknown[];
      const stored = await store.countByStatus();
      assert.equal(svc.child.exitCode, null, 'the service is still running');
      assert.ok(
        stored.sent < accepted,
        `some deliveries are not recorded yet (${stored.sent} of ${accepted})`,
      );
      assert.ok(reported.length <= stored.sent);
      // space returns: the outcomes held in memory are stored, delivery finishes, nothing twice
      rmSync(filler);
      filler = null;
      const t0 = Date.now();
      const total = n + added;
      await waitFor(async () => (await store.countByStatus()).sent === total, 180_000, `all ${total} sent`);
      const recoverMs = Date.now() - t0;
      assert.equal(await svc.stop('SIGTERM'), 0);
      svc = null;
      const stats = sink.stats();
      report('disk-full/sqlite', {
        messages: n + added,
        added_before_full: added,
        write_when_full: `${full?.status} ${full?.code}: ${full?.error}`,
        delivered_when_full: accepted,
        recorded_when_full: stored.sent,
        recovered_ms: recoverMs,
        duplicates: stats.duplicates,
      });
      assert.equal(full?.status, 507);
      assert.equal(full?.code, 'STORE_FULL');
      assert.equal(stats.unique_webhook_ids, total);
      assert.equal(stats.duplicates, 0);
    } catch (err) {
      process.stdout.write(
        `counts: ${JSON.stringify(await store.countByStatus())}, sink: ${JSON.stringify(sink.stats())}\nservice output:\n${svc?.output().slice(-3000) ?? ''}\n`,
      );
      throw err;
    } finally {
      if (filler) rmSync(filler, { force: true });
      await svc?.stop('SIGKILL');
      await store.close();
      await sink.stop();
      await t.drop();
      execFileSync('umount', [dir]);
      rmdirSync(dir);
    }
  });
});
