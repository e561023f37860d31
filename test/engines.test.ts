/**
 * Every package `npm ci` installs runs on the Node.js versions the README
 * promises (20.19+ and the current LTS): no EBADENGINE warning on a fresh
 * clone, and no package that only works on a newer Node than ours.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import semver from 'semver';

interface LockPackage {
  engines?: { node?: string } | string[];
  dev?: boolean;
  optional?: boolean;
}

test('every locked package accepts Node 20.19 and this Node (package.json engines, package-lock.json)', () => {
  const pkg = JSON.parse(readFileSync('package.json', 'utf8')) as { engines: { node: string } };
  const promised = semver.minVersion(pkg.engines.node)?.version;
  assert.equal(promised, '20.19.0', 'the README and package.json promise Node 20.19+');
  const lock = JSON.parse(readFileSync('package-lock.json', 'utf8')) as {
    packages: Record<string, LockPackage>;
  };
  const refusing: string[] = [];
  for (const [path, p] of Object.entries(lock.packages)) {
    if (path === '' || !p.engines || Array.isArray(p.engines) || !p.engines.node) continue;
    for (const node of [promised, process.versions.node]) {
      if (!semver.satisfies(node, p.engines.node, { includePrerelease: true })) {
        refusing.push(`${path.replace(/^.*node_modules\//, '')} wants node ${p.engines.node}, not ${node}`);
      }
    }
  }
  assert.deepEqual(refusing, [], 'pin a version that supports Node 20 (package.json overrides)');
});
