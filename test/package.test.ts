/**
 * The npm package holds the service: the benchmark and the test receiver (bench/) stay in the
 * source checkout (docs/architecture.md), and the packed CLI says so when asked for them.
 */
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, cpSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { test } from 'node:test';

test(
  'npm pack ships dist/src and no benchmark or sink',
  { skip: !existsSync('dist/src/cli/main.js') && !process.env.CI && 'not built (make build)' },
  () => {
    const out = execFileSync('npm', ['pack', '--dry-run', '--json', '--ignore-scripts'], {
      encoding: 'utf8',
    });
    const [pack] = JSON.parse(out) as { files: { path: string }[] }[];
    const paths = (pack?.files ?? []).map((f) => f.path);
    assert.ok(paths.includes('dist/src/cli/main.js'), 'the CLI is packed');
    const tools = paths.filter((p) => /(^|\/)(bench|sink)(\/|\.|$)/.test(p) || p.startsWith('dist/bench'));
    assert.deepEqual(tools, [], 'nothing of bench/ is packed');
  },
);

test(
  'an install without bench/ answers `bench` and `sink` with one line and exit 2',
  { skip: !existsSync('dist/src/cli/main.js') && !process.env.CI && 'not built (make build)' },
  (ctx) => {
    const dir = mkdtempSync(join(tmpdir(), 'ms-pack-'));
    ctx.after(() => rmSync(dir, { recursive: true, force: true }));
    mkdirSync(join(dir, 'dist'));
    cpSync('dist/src', join(dir, 'dist/src'), { recursive: true });
    cpSync('package.json', join(dir, 'package.json'));
    symlinkSync(resolve('node_modules'), join(dir, 'node_modules'));
    for (const command of ['bench', 'sink']) {
      const r = spawnSync(process.execPath, [join(dir, 'dist/src/cli/main.js'), command], {
        encoding: 'utf8',
      });
      assert.equal(r.status, 2, r.stderr);
      assert.match(r.stderr, /^message-scheduler: the bench and sink commands come with a source checkout/);
      assert.equal(r.stderr.trim().split('\n').length, 1);
    }
  },
);
