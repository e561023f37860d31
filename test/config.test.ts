import assert from 'node:assert/strict';
import { mkdtempSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { ConfigError, loadConfig, parseListen, parsePort, parseRedisUri } from '../src/config/config.js';
import { parseDuration } from '../src/config/duration.js';
import { CONFIG_KEYS, ENV_ONLY } from '../src/config/keys.js';
import { createLogger } from '../src/logging/logger.js';

function dirWith(yaml: string): string {
  const dir = mkdtempSync(join(tmpdir(), 'ms-config-'));
  mkdirSync(join(dir, '.config'));
  writeFileSync(join(dir, '.config', 'dev.yaml'), yaml);
  return dir;
}

describe('config', () => {
  test('Go durations', () => {
    assert.equal(parseDuration('100ms'), 100);
    assert.equal(parseDuration('30s'), 30_000);
    assert.equal(parseDuration('2m'), 120_000);
    assert.equal(parseDuration('24h'), 86_400_000);
    assert.equal(parseDuration('1h30m'), 5_400_000);
    assert.equal(parseDuration('1.5s'), 1500);
    assert.equal(parseDuration('soon'), null);
    assert.equal(parseDuration('10'), null);
  });

  test('the shipped .config/dev.yaml keeps the original behaviour', () => {
    const c = loadConfig({}, process.cwd());
    assert.equal(c.pool.numWorkers, 2);
    // webhook bodies byte for byte as the original's Go client wrote them
    assert.equal(c.webhook.bodyEscaping, 'go');
    assert.throws(
      () => loadConfig({ WEBHOOK_BODY_ESCAPING: 'html' }, process.cwd()),
      /WEBHOOK_BODY_ESCAPING/,
    );
    assert.deepEqual(c.rateLimiter, {
      enabled: true,
      maxTokens: 2,
      refillRate: 2,
      refillIntervalMs: 120_000,
    });
    assert.equal(c.webhook.url, 'https://webhook.site/a4d12c37-21b5-4470-92ad-357329f2b48c');
    assert.equal(c.cache.ttlMs, 86_400_000);
    assert.equal(c.store.kind, 'sqlite');
    assert.equal(c.port, 3000);
    assert.deepEqual(c.unknownKeys, []);
  });

  test('environment variables override the file; the store follows MONGODB_URI / DATABASE_URL', () => {
    const c = loadConfig(
      {
        POOL_NUM_WORKERS: '16',
        RATE_LIMITER_REFILL_INTERVAL: '1s',
        WEBHOOK_URL: 'http://127.0.0.1:4000/hook',
        PORT: ':8080',
        DATABASE_URL: 'postgres://u@h/db',
        REDIS_URI: 'localhost:6380',
        REDIS_DB: '2',
      },
      process.cwd(),
    );
    assert.equal(c.pool.numWorkers, 16);
    assert.equal(c.rateLimiter.refillIntervalMs, 1000);
    assert.equal(c.webhook.url, 'http://127.0.0.1:4000/hook');
    assert.equal(c.port, 8080);
    assert.equal(c.store.kind, 'postgres');
    assert.deepEqual(c.redis, {
      host: 'localhost',
      port: 6380,
      password: '',
      username: '',
      db: 2,
      tls: false,
    });
    assert.equal(
      loadConfig({ MONGODB_URI: 'mongodb://m:27017', DATABASE_URL: 'postgres://x' }).store.kind,
      'mongodb',
    );
  });

  test('a bad value stops start-up with one line naming the key, the value and what was expected', () => {
    const cases: [Record<string, string>, RegExp][] = [
      [
        { POOL_NUM_WORKERS: 'many' },
        /^config: pool\.numWorkers \(env POOL_NUM_WORKERS\) = "many" is invalid: expected a whole number$/,
      ],
      [{ POOL_NUM_WORKERS: '0' }, /pool\.numWorkers .* expected a number >= 1/],
      [
        { CACHE_TTL: 'forever' },
        /^config: cache\.ttl \(env CACHE_TTL\) = "forever" is invalid: expected a duration/,
      ],
      [{ RATE_LIMITER_ENABLED: 'maybe' }, /rateLimiter\.enabled .* expected true or false/],
      [{ PORT: 'http' }, /^config: PORT = "http" is invalid/],
      [{ REDIS_URI: 'redis://:::' }, /REDIS_URI/],
      [{ LOG_LEVEL: 'loud' }, /log\.level .* expected one of/],
      [{ WEBHOOK_SECRET: 'plain-secret' }, /signingSecret .* \(value not shown\)/],
    ];
    for (const [env, re] of cases) {
      assert.throws(
        () => loadConfig(env, process.cwd()),
        (err: unknown) => {
          assert.ok(err instanceof ConfigError);
          assert.match(err.message, re);
          assert.ok(!err.message.includes('\n'), 'one line');
          assert.ok(!err.message.includes('plain-secret'), 'no secret in the message');
          return true;
        },
      );
    }
  });

  test('file values are validated too, and unknown keys are reported', () => {
    const dir = dirWith('pool:\n  numWorkers: 3\n  colour: blue\nworker:\n  workerJobInterval: 250ms\n');
    const c = loadConfig({}, dir);
    assert.equal(c.pool.numWorkers, 3);
    assert.equal(c.worker.jobIntervalMs, 250);
    assert.deepEqual(c.unknownKeys, ['pool.colour']);
    const bad = dirWith('cache:\n  ttl: -5s\n');
    assert.throws(() => loadConfig({}, bad), /cache\.ttl .*dev\.yaml\) = "-5s" is invalid/);
    assert.throws(() => loadConfig({ CONFIG_ENV: 'prod' }, dir), /does not exist/);
  });

  test('PORT and REDIS_URI forms of the original', () => {
    assert.equal(parsePort(':3000'), 3000);
    assert.equal(parsePort('3000'), 3000);
    assert.deepEqual(parseRedisUri('redis:6379', 'pw', '0'), {
      host: 'redis',
      port: 6379,
      password: 'pw',
      username: '',
      db: 0,
      tls: false,
    });
    assert.deepEqual(parseRedisUri('redis://user:secret@h:7000/3', '', '0'), {
      host: 'h',
      port: 7000,
      password: 'secret',
      username: 'user',
      db: 3,
      tls: false,
    });
  });

  test('PORT with a host listens on that host, as the original did; HOST only when PORT names none', () => {
    assert.deepEqual(parseListen('127.0.0.1:3000'), { host: '127.0.0.1', port: 3000 });
    assert.deepEqual(parseListen('[::1]:3001'), { host: '::1', port: 3001 });
    assert.deepEqual(parseListen('localhost:80'), { host: 'localhost', port: 80 });
    assert.deepEqual(parseListen(':3000'), { host: null, port: 3000 });
    assert.deepEqual(parseListen('3000'), { host: null, port: 3000 });
    for (const bad of ['3000:', 'a:b:3000', '70000', ':', 'host:', '1.2.3.4:99999', ' x y:1']) {
      assert.throws(() => parseListen(bad), /^ConfigError: config: PORT = .* is invalid/, bad);
    }
    const c = loadConfig({ PORT: '127.0.0.1:3000' }, process.cwd());
    assert.equal(c.host, '127.0.0.1');
    assert.equal(c.port, 3000);
    assert.equal(loadConfig({ PORT: '127.0.0.1:3000', HOST: '127.0.0.1' }).host, '127.0.0.1');
    assert.equal(loadConfig({ PORT: ':3000', HOST: '::1' }).host, '::1');
    assert.equal(loadConfig({ PORT: ':3000' }).host, '0.0.0.0');
    assert.throws(
      () => loadConfig({ PORT: '127.0.0.1:3000', HOST: '0.0.0.0' }),
      /config: PORT = "127\.0\.0\.1:3000" names host 127\.0\.0\.1 but HOST = "0\.0\.0\.0"/,
    );
  });

  test('the Redis key is the original <messageId> by default; a set but empty CACHE_KEY_PREFIX means no prefix', () => {
    assert.equal(loadConfig({}, process.cwd()).cache.keyPrefix, '');
    assert.equal(loadConfig({ CACHE_KEY_PREFIX: 'ms:' }).cache.keyPrefix, 'ms:');
    const dir = dirWith('cache:\n  keyPrefix: "from-file:"\n');
    assert.equal(loadConfig({}, dir).cache.keyPrefix, 'from-file:');
    assert.equal(loadConfig({ CACHE_KEY_PREFIX: '' }, dir).cache.keyPrefix, '');
    // other settings keep "empty means unset": an empty WEBHOOK_SECRET does not switch signing off
    const signed = dirWith('webhookClient:\n  signingSecret: whsec_c2VjcmV0\n');
    assert.deepEqual(loadConfig({ WEBHOOK_SECRET: '' }, signed).webhook.signingSecrets, ['whsec_c2VjcmV0']);
  });

  test('CONFIG_PATH: an absolute folder is used as it is, a relative one under the working directory', () => {
    const mounted = dirWith('pool:\n  numWorkers: 7\n');
    const abs = join(mounted, '.config');
    // the working directory is elsewhere: the absolute path must not be joined onto it
    const elsewhere = mkdtempSync(join(tmpdir(), 'ms-cwd-'));
    const c = loadConfig({ CONFIG_PATH: abs }, elsewhere);
    assert.equal(c.pool.numWorkers, 7);
    assert.equal(c.configFile, join(abs, 'dev.yaml'));
    const rel = loadConfig({ CONFIG_PATH: '.config' }, mounted);
    assert.equal(rel.pool.numWorkers, 7);
    assert.equal(rel.configFile, join(mounted, '.config', 'dev.yaml'));
    assert.throws(
      () => loadConfig({ CONFIG_PATH: '/nonexistent/ms' }, elsewhere),
      /point at \/nonexistent\/ms\/dev\.yaml \(or \.yml\), which does not exist/,
    );
  });

  test('dev.yml is read as the original read it; with dev.yaml beside it, dev.yaml wins and dev.yml is named', () => {
    const dir = mkdtempSync(join(tmpdir(), 'ms-config-'));
    mkdirSync(join(dir, '.config'));
    writeFileSync(join(dir, '.config', 'dev.yml'), 'pool:\n  numWorkers: 5\n');
    // from elsewhere, as a container mounts it
    const elsewhere = mkdtempSync(join(tmpdir(), 'ms-cwd-'));
    const yml = loadConfig({ CONFIG_PATH: join(dir, '.config') }, elsewhere);
    assert.equal(yml.pool.numWorkers, 5);
    assert.equal(yml.configFile, join(dir, '.config', 'dev.yml'));
    assert.equal(yml.ignoredConfigFile, null);
    assert.equal(loadConfig({}, dir).pool.numWorkers, 5);
    writeFileSync(join(dir, '.config', 'dev.yaml'), 'pool:\n  numWorkers: 6\n');
    const both = loadConfig({}, dir);
    assert.equal(both.pool.numWorkers, 6);
    assert.equal(both.configFile, join(dir, '.config', 'dev.yaml'));
    assert.equal(both.ignoredConfigFile, join(dir, '.config', 'dev.yml'));
    // CONFIG_ENV selects the file name, with either extension
    writeFileSync(join(dir, '.config', 'prod.yml'), 'pool:\n  numWorkers: 9\n');
    assert.equal(loadConfig({ CONFIG_ENV: 'prod' }, dir).pool.numWorkers, 9);
    writeFileSync(join(dir, '.config', 'bad.yml'), 'pool: [\n');
    assert.throws(() => loadConfig({ CONFIG_ENV: 'bad' }, dir), /bad\.yml is not valid YAML/);
  });

  test('no config error shows a password, for every URL-shaped setting', () => {
    const PW = 'S3cretPw!x';
    const cases: Record<string, string>[] = [
      { REDIS_URI: `redis://:${PW}@127.0.0.1:3499/notadb` },
      { REDIS_URI: `redis://user:${PW}@127.0.0.1:3499/-1` },
      { REDIS_URI: `rediss://u:${PW}@[bad` },
      { REDIS_URI: '127.0.0.1:6379', REDIS_PASSWORD: PW, REDIS_DB: 'x' },
      { WEBHOOK_URL: `ftp://user:${PW}@host/` },
      { WEBHOOK_URL: `http://user:${PW}@exa mple/` },
      { WEBHOOK_CLIENT_HOST: `ftp://user:${PW}@host` },
      {
        WEBHOOK_CLIENT_HOST: `http://user:${PW}@h`,
        WEBHOOK_CLIENT_PATH: 'no-slash x',
        WEBHOOK_URL: `gopher://a:${PW}@b`,
      },
      { DATABASE_URL: `mysql://root:${PW}@db/x` },
      { MONGODB_URI: `mongo://root:${PW}@db/x` },
      { WEBHOOK_SECRET: PW },
    ];
    for (const env of cases) {
      assert.throws(
        () => loadConfig(env, process.cwd()),
        (err: unknown) => {
          assert.ok(err instanceof ConfigError, String(err));
          assert.ok(!err.message.includes(PW), `password shown: ${err.message}`);
          assert.ok(!err.message.includes(encodeURIComponent(PW)), `password shown: ${err.message}`);
          return true;
        },
        JSON.stringify(env),
      );
    }
  });

  test('a secret-bearing setting that fails to parse is never echoed, whatever its password holds (# / ? " @)', () => {
    // the pattern-based redaction missed these: 10 of 14 malformed URLs were echoed with their password
    const secrets = ['Zq#7kVw', 'Zq/7kVw', 'Zq?7kVw', 'Zq"7kVw', 'Zq@7kVw', 'Zq 7kVw', 'Zq%zz7kVw'];
    const urlKeys = CONFIG_KEYS.filter((k) => k.type === 'url' || ('secret' in k && k.secret)).map(
      (k) => k.env,
    );
    assert.ok(urlKeys.includes('AUTH_JWT_JWKS_URL') && urlKeys.includes('AUTH_API_KEYS'));
    const envOnly = ['REDIS_URI', 'WEBHOOK_URL', 'DATABASE_URL', 'MONGODB_URI'];
    const otlp = ['OTEL_EXPORTER_OTLP_ENDPOINT', 'OTEL_EXPORTER_OTLP_TRACES_ENDPOINT'];
    const shapes = (pw: string): string[] => [
      `redis://:${pw}@127.0.0.1:4199/notadb`,
      `ftp://user:${pw}@host/`,
      `http://user:${pw}@exa mple/`,
      `http://u:${pw}@[bad`,
      `user:${pw}@host:port`,
      pw,
    ];
    let checked = 0;
    for (const pw of secrets) {
      for (const name of [...urlKeys, ...envOnly, ...otlp]) {
        for (const value of shapes(pw)) {
          const env: Record<string, string> = { [name]: value };
          // the JWKS URL is only read with an issuer and audience beside it
          if (name.startsWith('AUTH_JWT'))
            Object.assign(env, { AUTH_JWT_ISSUER: 'i', AUTH_JWT_AUDIENCE: 'a' });
          if (name === 'AUTH_JWT_TOKEN_URL') env.AUTH_JWT_JWKS_URL = 'https://id.example/jwks';
          let message = '';
          try {
            loadConfig(env, process.cwd());
            continue; // a value that parses (e.g. a bare password as a Redis host) starts nothing here
          } catch (err) {
            assert.ok(err instanceof ConfigError, `${name}=${value}: ${String(err)}`);
            message = err.message;
          }
          checked++;
          // neither the whole password nor the part after its special character
          const bare = '7kVw';
          assert.ok(!message.includes(pw) && !message.includes(bare), `${name}: ${message}`);
          assert.ok(!message.includes(encodeURIComponent(pw)), `${name}: ${message}`);
          assert.match(
            message,
            new RegExp(name.replace(/_/g, '.').slice(0, 4), 'i'),
            `names the key: ${message}`,
          );
        }
      }
    }
    assert.ok(checked > 200, `${checked} refusals checked`);
  });

  test('an AUTH_API_KEYS item with a raw key pasted where its hash belongs is not echoed', () => {
    const raw = 'ms_0123456789ab_' + 'k'.repeat(43);
    for (const item of [raw, `deploy;messages:write;${raw}`, `deploy;messages:write;sha256:${raw}`]) {
      assert.throws(
        () => loadConfig({ AUTH_API_KEYS: item }, process.cwd()),
        (err: unknown) =>
          err instanceof ConfigError && !err.message.includes(raw) && /item 1/.test(err.message),
        item,
      );
    }
  });
});

describe('secrets and the environment, from the tables in src/config/keys.ts', () => {
  /** A valid value for each setting flagged secret, holding a password no other text holds. */
  function secretEnv(): { env: Record<string, string>; secrets: string[] } {
    const env: Record<string, string> = {};
    const secrets: string[] = [];
    let n = 0;
    for (const spec of [...CONFIG_KEYS, ...ENV_ONLY]) {
      if (!('secret' in spec)) continue;
      const pw = `Pw${++n}x${'q'.repeat(n)}Z9`;
      secrets.push(pw);
      let value: string;
      if (spec.env === 'WEBHOOK_SECRET') {
        value = `whsec_${Buffer.from(pw).toString('base64')}`;
        secrets.push(value);
      } else if (spec.env === 'AUTH_API_KEYS') {
        const hex = Buffer.from(pw).toString('hex').padEnd(64, 'a').slice(0, 64);
        value = `ops;admin;sha256:${hex}`;
        secrets.push(hex);
      } else if (spec.secret === 'headers') value = `authorization=Bearer ${pw},x-other=${pw}2`;
      else if (spec.secret === 'url') {
        const scheme = spec.env.startsWith('DATABASE')
          ? 'postgres'
          : spec.env.startsWith('MONGODB')
            ? 'mongodb'
            : spec.env.startsWith('REDIS')
              ? 'redis'
              : 'https';
        value = `${scheme}://user:${pw}@host.example:1234${scheme === 'https' ? '/x' : scheme === 'redis' ? '/0' : '/db'}`;
      } else value = pw;
      env[spec.env] = value;
    }
    // a JWKS URL is read only with an issuer and an audience beside it
    Object.assign(env, { AUTH_JWT_ISSUER: 'https://id.example', AUTH_JWT_AUDIENCE: 'ms' });
    return { env, secrets };
  }

  test('a config with every secret set, logged whole, shows none of them', () => {
    const { env, secrets } = secretEnv();
    assert.ok(secrets.length >= 14, `${secrets.length} secrets`);
    const config = loadConfig(env, mkdtempSync(join(tmpdir(), 'ms-cfg-')));
    const lines: string[] = [];
    const logger = createLogger('debug', { write: (l: string) => void lines.push(l) }, config.secrets);
    logger.info({ config }, 'configuration');
    logger.info({ env }, `every secret in the message: ${Object.values(env).join(' ')}`);
    logger.warn({ err: new Error(`a driver quoting ${env.DATABASE_URL}`), nested: [[{ deep: env }]] }, 'x');
    logger.child({ bound: env.REDIS_PASSWORD }).info('child');
    const out = lines.join('');
    assert.ok(out.includes('configuration') && out.includes('"bound"'), 'the lines were written');
    for (const s of secrets)
      assert.ok(!out.includes(s), `${s} leaked: ${out.slice(out.indexOf(s) - 80, out.indexOf(s) + 20)}`);
  });

  test('secrets set in the config file are redacted too', () => {
    const dir = mkdtempSync(join(tmpdir(), 'ms-cfg-'));
    mkdirSync(join(dir, '.config'));
    const secret = `whsec_${Buffer.from('from-the-file-secret').toString('base64')}`;
    writeFileSync(join(dir, '.config', 'dev.yaml'), `webhookClient:\n  signingSecret: [${secret}]\n`);
    const config = loadConfig({}, dir);
    assert.deepEqual(config.webhook.signingSecrets, [secret]);
    const lines: string[] = [];
    const logger = createLogger('info', { write: (l: string) => void lines.push(l) }, config.secrets);
    logger.info({ config }, `signing with ${secret}`);
    assert.ok(!lines.join('').includes(secret));
  });

  test('every environment variable src/ reads is in the generated table', () => {
    const names = new Set<string>();
    const walk = (dir: string): void => {
      for (const e of readdirSync(dir, { withFileTypes: true })) {
        const p = join(dir, e.name);
        if (e.isDirectory()) walk(p);
        else if (p.endsWith('.ts')) {
          const text = readFileSync(p, 'utf8');
          for (const m of text.matchAll(
            /\benv(?:\.|\[['"])([A-Z][A-Z0-9_]{2,})\b|(?:FromEnv\(|envOr\(env, |envDefault\()['"]([A-Z][A-Z0-9_]+)/g,
          )) {
            names.add(m[1] ?? m[2] ?? '');
          }
        }
      }
    };
    walk('src');
    assert.ok(names.has('DATABASE_SCHEMA') && names.has('OTEL_BSP_MAX_QUEUE_SIZE'), [...names].join(' '));
    const documented = new Set<string>([...CONFIG_KEYS.map((k) => k.env), ...ENV_ONLY.map((k) => k.env)]);
    const missing = [...names].filter((n) => !documented.has(n) && n !== 'NODE_ENV');
    assert.deepEqual(
      missing,
      [],
      'read by src/ but not in src/config/keys.ts (and so not in the README table)',
    );
  });
});
