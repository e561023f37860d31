/**
 * The compose files users run: every environment variable given to a service
 * node is one the service reads, every role is one it knows, and the config
 * each node would start with loads (no Docker here: the files are checked as
 * the service would read them).
 */
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { test } from 'node:test';
import { parse } from 'yaml';
import { CONFIG_KEYS, ENV_ONLY } from '../src/config/keys.js';
import { loadConfig } from '../src/config/config.js';

interface Service {
  build?: unknown;
  command?: string[];
  environment?: Record<string, string>;
  deploy?: { replicas?: number };
  ports?: string[];
}

const files = readdirSync('.').filter((f) => /^docker-compose(\..+)?\.yml$/.test(f));
const known = new Set<string>([...CONFIG_KEYS.map((k) => k.env), ...ENV_ONLY.map((k) => k.env)]);

test('compose files: known variables, known roles, a config that loads, ports on loopback', () => {
  assert.ok(
    files.includes('docker-compose.cluster.yml') && files.includes('docker-compose.cluster-postgres.yml'),
  );
  const roles = new Map<string, string[]>();
  for (const file of files) {
    const doc = parse(readFileSync(file, 'utf8'), { merge: true }) as { services: Record<string, Service> };
    for (const [name, svc] of Object.entries(doc.services)) {
      if (svc.build === undefined) continue; // mongo, postgres, redis
      const env = svc.environment ?? {};
      for (const k of Object.keys(env))
        assert.ok(known.has(k), `${file}: ${name} sets ${k}, which the service does not read`);
      const args = svc.command ?? ['serve'];
      const i = args.indexOf('--role');
      const role = i >= 0 ? (args[i + 1] ?? '') : 'all';
      assert.ok(['all', 'api', 'worker'].includes(role), `${file}: ${name} has role ${role}`);
      roles.set(file, [...(roles.get(file) ?? []), role]);
      const config = loadConfig({ ...env, NODE_ROLE: role }, process.cwd());
      assert.equal(config.role, role);
      if (file.includes('cluster'))
        assert.notEqual(config.store.kind, 'sqlite', `${file}: several nodes need a server store`);
      for (const p of svc.ports ?? [])
        assert.match(
          p,
          /^127\.0\.0\.1:/,
          `${file}: ${name} publishes ${p} beyond loopback with API_AUTH none`,
        );
    }
  }
  for (const file of files.filter((f) => f.includes('cluster'))) {
    assert.deepEqual([...(roles.get(file) ?? [])].sort(), ['api', 'worker'], `${file}: api and worker nodes`);
  }
});
