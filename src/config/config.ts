import { existsSync, readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { CONFIG_KEYS, envOr, type ChoiceOf, type Lookups } from './keys.js';
import { redact, secretList, secretParts, secretsOf } from './redact.js';
import { ConfigError } from './config-error.js';
import { authConfig, corsOrigins } from './auth-config.js';
import { addressEntryProblem } from '../domain/address-ranges.js';
import { DEFAULT_DESTINATION_ID, DESTINATION_ID, TOPIC } from '../domain/destination.js';
import { tracingConfig } from './tracing-config.js';
import { coerce, flatten, pick, type Value } from './values.js';
import { metricsListen, parseListen, parseRedisUri, trustedProxies } from './addresses.js';
import type { Config, Env, LogLevel, StoreKind } from './types.js';

export type * from './types.js';
export { parseListen, parsePort, parseRedisUri } from './addresses.js';
export { ConfigError };

/**
 * Loads the config: defaults, then the YAML file, then environment variables.
 * Throws ConfigError with one line naming the key, the value and what was expected.
 */
export function loadConfig(env: Env = process.env, cwd = process.cwd()): Config {
  try {
    return load(env, cwd);
  } catch (err) {
    // one redaction for every message, whatever produced it
    if (err instanceof ConfigError) throw new ConfigError(redact(err.message, secretsOf(env)));
    throw err;
  }
}

/** The config with every default and nothing else: no file, no environment (the defaults' one source). */
export function defaultConfig(): Config {
  return load({}, null);
}

function load(env: Env, cwd: string | null): Config {
  const configPath = envOr(env, 'CONFIG_PATH');
  const configEnv = envOr(env, 'CONFIG_ENV');
  // an absolute CONFIG_PATH (a mounted volume) is kept; a relative one is under the working directory.
  // `.yaml` or `.yml`, as the original (viper) found either; both there: `.yaml`, as viper chose,
  // and the other is named in a warning
  const yaml = cwd === null ? '' : resolve(cwd, configPath, `${configEnv}.yaml`);
  const yml = cwd === null ? '' : resolve(cwd, configPath, `${configEnv}.yml`);
  const file = existsSync(yaml) || !existsSync(yml) ? yaml : yml;
  const ignoredConfigFile = file === yaml && existsSync(yml) ? yml : null;
  let fileValues = new Map<string, unknown>();
  let configFile: string | null = null;
  if (cwd !== null && existsSync(file)) {
    let parsed: unknown;
    try {
      parsed = parseYaml(readFileSync(file, 'utf8'));
    } catch (err) {
      throw new ConfigError(`config: ${file} is not valid YAML: ${(err as Error).message.split('\n')[0]}`);
    }
    if (parsed !== null && parsed !== undefined && (typeof parsed !== 'object' || Array.isArray(parsed))) {
      throw new ConfigError(`config: ${file} must hold a mapping of sections (worker:, pool:, ...)`);
    }
    fileValues = flatten(parsed ?? {});
    configFile = file;
  } else if (cwd !== null && (env.CONFIG_PATH || env.CONFIG_ENV)) {
    throw new ConfigError(`config: CONFIG_PATH/CONFIG_ENV point at ${file} (or .yml), which does not exist`);
  }

  const known = new Set<string>(CONFIG_KEYS.map((k) => k.key));
  const unknownKeys = [...fileValues.keys()].filter((k) => !known.has(k));

  const values = new Map<string, Value>();
  for (const spec of CONFIG_KEYS) {
    const fromEnv = env[spec.env];
    let v: Value;
    const envCounts =
      fromEnv !== undefined && (fromEnv !== '' || ('emptyEnvIsValue' in spec && spec.emptyEnvIsValue));
    if (envCounts) v = coerce(spec, fromEnv, `env ${spec.env}`);
    else if (fileValues.has(spec.key) && fileValues.get(spec.key) !== null) {
      v = coerce(spec, fileValues.get(spec.key), configFile ?? 'file');
    } else v = coerce(spec, spec.default, 'default');
    values.set(spec.key, v);
  }

  const lookups: Lookups = {
    num: (k) => pick(values, k) as number,
    bool: (k) => pick(values, k) as boolean,
    str: (k) => pick(values, k) as string,
    list: (k) => pick(values, k) as string[],
    choice: <K extends Parameters<Lookups['choice']>[0]>(k: K) => pick(values, k) as ChoiceOf<K>,
  };
  const { num, bool, str, list, choice } = lookups;
  // every value of a setting flagged secret, from the file or the environment: the logger redacts them
  const secrets = secretList([
    ...secretsOf(env),
    ...CONFIG_KEYS.flatMap((spec) => {
      if (!('secret' in spec)) return [];
      const v = values.get(spec.key);
      return typeof v === 'string' || Array.isArray(v) ? secretParts(spec.secret, v) : [];
    }),
  ]);

  let webhookUrl = env.WEBHOOK_URL || `${str('webhookClient.host')}${str('webhookClient.path')}`;
  try {
    const u = new URL(webhookUrl);
    if (u.protocol !== 'http:' && u.protocol !== 'https:') throw new Error('protocol');
    webhookUrl = u.toString();
  } catch {
    throw new ConfigError(
      `config: the webhook URL (${env.WEBHOOK_URL ? 'WEBHOOK_URL' : 'webhookClient.host + webhookClient.path'}; value not shown: it may hold a password) is invalid: expected an http(s) URL`,
    );
  }
  const signingSecrets = list('webhookClient.signingSecret');
  const badSecret = signingSecrets.findIndex((x) => !/^whsec_[A-Za-z0-9+/]+={0,2}$/.test(x));
  if (badSecret >= 0) {
    throw new ConfigError(
      `config: webhookClient.signingSecret (env WEBHOOK_SECRET) item ${badSecret + 1} of ${signingSecrets.length} is invalid: expected whsec_ followed by base64 (value not shown)`,
    );
  }
  const auth = authConfig(lookups);

  const denyAddresses = list('destinations.denyAddresses');
  denyAddresses.forEach((entry, i) => {
    const problem = addressEntryProblem(entry);
    if (problem) {
      throw new ConfigError(
        `config: destinations.denyAddresses (env DESTINATIONS_DENY_ADDRESSES) item ${i + 1} = ${JSON.stringify(entry)} is invalid: ${problem}`,
      );
    }
  });

  const eventsDestination = str('events.destination');
  const eventsTopic = str('events.topic');
  if (
    eventsDestination &&
    (!DESTINATION_ID.test(eventsDestination) || eventsDestination === DEFAULT_DESTINATION_ID)
  ) {
    throw new ConfigError(
      `config: events.destination (env EVENTS_DESTINATION) = ${JSON.stringify(eventsDestination)} is invalid: expected the id of a destination made over the API or the CLI (a slug; not default)`,
    );
  }
  if (eventsTopic && !TOPIC.test(eventsTopic)) {
    throw new ConfigError(
      `config: events.topic (env EVENTS_TOPIC) = ${JSON.stringify(eventsTopic)} is invalid: expected a topic (letters, digits, . _ : -; at most 128)`,
    );
  }
  if (eventsDestination && eventsTopic) {
    throw new ConfigError(
      `config: events.destination = ${JSON.stringify(eventsDestination)} and events.topic = ${JSON.stringify(eventsTopic)} are both set: expected at most one`,
    );
  }

  if (num('pool.leaseTimeout') <= num('webhookClient.timeout')) {
    throw new ConfigError(
      `config: pool.leaseTimeout = ${num('pool.leaseTimeout')}ms is invalid: expected more than webhookClient.timeout (${num('webhookClient.timeout')}ms), or a slow delivery would be recovered and sent twice`,
    );
  }

  if (num('pool.nodeTimeout') < 3 * num('pool.heartbeatInterval')) {
    throw new ConfigError(
      `config: pool.nodeTimeout = ${num('pool.nodeTimeout')}ms is invalid: expected at least 3 × pool.heartbeatInterval (${3 * num('pool.heartbeatInterval')}ms), or one slow heartbeat would declare a live node dead`,
    );
  }

  if (num('schedules.interval') >= num('schedules.lookahead')) {
    throw new ConfigError(
      `config: schedules.interval = ${num('schedules.interval')}ms is invalid: expected less than schedules.lookahead (${num('schedules.lookahead')}ms), or an occurrence's message could be made after its instant`,
    );
  }

  if (num('api.maxConnectionsPerClient') > num('api.maxConnections')) {
    throw new ConfigError(
      `config: api.maxConnectionsPerClient = ${num('api.maxConnectionsPerClient')} is invalid: expected at most api.maxConnections (${num('api.maxConnections')})`,
    );
  }

  if (num('api.headersTimeout') > num('api.requestTimeout')) {
    throw new ConfigError(
      `config: api.headersTimeout = ${num('api.headersTimeout')}ms is invalid: expected at most api.requestTimeout (${num('api.requestTimeout')}ms)`,
    );
  }

  const mongodbUri = env.MONGODB_URI ?? '';
  const databaseUrl = env.DATABASE_URL ?? '';
  if (databaseUrl && !/^postgres(ql)?:\/\//.test(databaseUrl)) {
    throw new ConfigError(
      'config: DATABASE_URL is invalid: expected postgres://user:password@host:port/database',
    );
  }
  if (mongodbUri && !/^mongodb(\+srv)?:\/\//.test(mongodbUri)) {
    throw new ConfigError('config: MONGODB_URI is invalid: expected mongodb://[user:password@]host:port');
  }
  const kind: StoreKind = mongodbUri ? 'mongodb' : databaseUrl ? 'postgres' : 'sqlite';

  const redisUri = env.REDIS_URI ?? '';
  const redis = redisUri ? parseRedisUri(redisUri, env.REDIS_PASSWORD ?? '', envOr(env, 'REDIS_DB')) : null;

  const listen = parseListen(envOr(env, 'PORT'));
  if (listen.host !== null && env.HOST && env.HOST !== listen.host) {
    throw new ConfigError(
      `config: PORT = ${JSON.stringify(env.PORT)} names host ${listen.host} but HOST = ${JSON.stringify(env.HOST)}: expected one of them, or the same host in both`,
    );
  }

  return {
    host: listen.host ?? envOr(env, 'HOST'),
    port: listen.port,
    store: {
      kind,
      sqlitePath: envOr(env, 'SQLITE_PATH'),
      databaseUrl,
      databaseSchema: envOr(env, 'DATABASE_SCHEMA'),
      mongodbUri,
      mongoDbName: envOr(env, 'MESSAGES_DB_NAME'),
      mongoCollection: envOr(env, 'MESSAGES_COLLECTION_NAME'),
    },
    redis,
    worker: { jobIntervalMs: num('worker.workerJobInterval') },
    seedAtStart: bool('mongoDB.seed'),
    webhook: {
      url: webhookUrl,
      timeoutMs: num('webhookClient.timeout'),
      signingSecrets,
      bodyEscaping: choice('webhookClient.bodyEscaping'),
    },
    cache: { ttlMs: num('cache.ttl'), keyPrefix: str('cache.keyPrefix') },
    pool: {
      numWorkers: num('pool.numWorkers'),
      timeoutMs: num('pool.timeout'),
      initialRunning: bool('pool.initialJobFetch'),
      leaseMs: num('pool.leaseTimeout'),
      claimAheadMs: num('pool.claimAhead'),
      deliveryThreads: num('pool.deliveryThreads'),
      heartbeatMs: num('pool.heartbeatInterval'),
      nodeTimeoutMs: num('pool.nodeTimeout'),
      stateSyncMs: num('pool.stateSyncInterval'),
    },
    rateLimiter: {
      enabled: bool('rateLimiter.enabled'),
      maxTokens: num('rateLimiter.maxTokens'),
      refillRate: num('rateLimiter.refillRate'),
      refillIntervalMs: num('rateLimiter.refillInterval'),
    },
    retry: {
      maxAttempts: num('retry.maxAttempts'),
      baseDelayMs: num('retry.baseDelay'),
      maxDelayMs: num('retry.maxDelay'),
    },
    destinations: {
      denyAddresses,
      refreshMs: num('destinations.refreshInterval'),
      breaker: {
        failureRatio: num('destinations.breaker.failureRatio'),
        minRequests: num('destinations.breaker.minRequests'),
        windowMs: num('destinations.breaker.window'),
        consecutiveFailures: num('destinations.breaker.consecutiveFailures'),
        openForMs: num('destinations.breaker.openFor'),
      },
      disableAfterMs: num('destinations.disableAfter'),
    },
    schedules: {
      enabled: bool('schedules.enabled'),
      intervalMs: num('schedules.interval'),
      lookaheadMs: num('schedules.lookahead'),
      missedAfterMs: num('schedules.missedAfter'),
      catchUpMax: num('schedules.catchUpMax'),
    },
    events: eventsDestination
      ? { destination: eventsDestination }
      : eventsTopic
        ? { topic: eventsTopic }
        : null,
    metrics: {
      enabled: bool('metrics.enabled'),
      countIntervalMs: num('metrics.countInterval'),
      listen: metricsListen(str('metrics.listen')),
      destinationLabels: num('metrics.destinationLabels'),
    },
    tracing: tracingConfig(env, choice('tracing.poolExporter')),
    ui: { enabled: bool('ui.enabled') },
    api: {
      bodyLimit: num('api.bodyLimit'),
      requestTimeoutMs: num('api.requestTimeout'),
      headersTimeoutMs: num('api.headersTimeout'),
      keepAliveTimeoutMs: num('api.keepAliveTimeout'),
      maxConnections: num('api.maxConnections'),
      maxConnectionsPerClient: num('api.maxConnectionsPerClient'),
      maxConcurrentRequests: num('api.maxConcurrentRequests'),
      maxConcurrentRequestsPerClient: num('api.maxConcurrentRequestsPerClient'),
      corsOrigins: corsOrigins(list('api.cors.origins')),
      allowedHosts: list('api.allowedHosts').map((h) => h.toLowerCase()),
      trustProxy: trustedProxies(list('api.trustProxy')),
    },
    auth,
    apiRateLimiter: {
      enabled: bool('apiRateLimiter.enabled'),
      maxTokens: num('apiRateLimiter.maxTokens'),
      refillRate: num('apiRateLimiter.refillRate'),
      refillIntervalMs: num('apiRateLimiter.refillInterval'),
    },
    deliveryMode: choice('delivery.mode'),
    role: choice('node.role'),
    logLevel: str('log.level') as LogLevel,
    configFile,
    secrets,
    unknownKeys,
    ignoredConfigFile,
  };
}
