/**
 * The harness's leak check (test/helpers/leak-check.ts, loaded before every test file) fails a
 * file that leaves a server or a timer open, names them, and passes one that closes them.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { test } from 'node:test';

/** The environment of a test process, without the runner's marker (a nested run would be skipped). */
function runnerEnv(): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env, LEAK_CHECK: '' };
  delete env.NODE_TEST_CONTEXT;
  return env;
}

function run(fixture: string): { status: number | null; out: string } {
  const r = spawnSync(
    process.execPath,
    [
      '--import',
      'tsx',
      '--import',
      './test/helpers/leak-check.ts',
      '--test',
      `test/fixtures/leaks/${fixture}`,
    ],
    { encoding: 'utf8', env: runnerEnv(), timeout: 60_000 },
  );
  return { status: r.status, out: r.stdout + r.stderr };
}

test('a file that leaves a server and an interval open fails, naming them', () => {
  const r = run('leaves-a-server.ts');
  assert.equal(r.status, 1, r.out);
  assert.match(r.out, /LEAK: .*leaves-a-server\.ts.* left open after its tests: .*TCPServerWrap/);
  assert.match(r.out, /Timeout/);
  assert.match(r.out, /# pass 1/, 'its test ran and passed: the file fails for the leak alone');
});

test('a file that leaves a worker thread running fails, naming it', () => {
  const r = run('leaves-a-thread.ts');
  assert.equal(r.status, 1, r.out);
  assert.match(r.out, /LEAK: .*leaves-a-thread\.ts.* left open after its tests: 1 × worker thread/);
});

test('a file that closes what it opened passes', () => {
  const r = run('closes-everything.ts');
  assert.equal(r.status, 0, r.out);
  assert.doesNotMatch(r.out, /LEAK/);
  assert.match(r.out, /# pass 1/, 'its test ran');
});
