#!/usr/bin/env -S node --max-semi-space-size=16
import { parseArgs } from 'node:util';
import { userInfo } from 'node:os';
import pino from 'pino';
import { ConfigError, loadConfig, type Config } from '../config/config.js';
import { createLogger, type Logger } from '../logging/logger.js';
import { createApp, seedFromFile, VERSION } from '../app/app.js';
import { createStore } from '../store/create-store.js';
import { redact, secretsOf } from '../config/redact.js';
import { checkKeyRequest, createApiKey, KeyRequestError, keyJson } from '../auth/key-admin.js';
import { configItem, generateKey } from '../auth/api-keys.js';
import { SCOPE_NAMES, SCOPES } from '../domain/scopes.js';
import { parseDuration } from '../config/duration.js';
import { DestinationError } from '../destinations/destination-service.js';
import { openDestinations } from '../app/wire-destinations.js';
import { destinationsCommand, DESTINATIONS_USAGE } from './destinations-command.js';
import { DestinationHealth } from '../destinations/health.js';
import { schedulesCommand, SCHEDULES_USAGE } from './schedules-command.js';
import { ScheduleError } from '../schedules/schedule-service.js';
import { createSchedules } from '../app/wire-schedules.js';

// the scopes from the one list access control reads, so a new scope is never missing here
const SCOPE_LINES = SCOPE_NAMES.map((s) => `                          ${s.padEnd(20)}${SCOPES[s]}`).join(
  '\n',
);

const USAGE = `message-scheduler ${VERSION}

Usage: message-scheduler [command] [options]

Commands:
  serve [--seed] [--role all|api|worker]
                        run the API and the worker pool (default command); --role api: the API only,
                        worker: delivery only (and /healthz, /readyz)
  seed [file]           add the messages of a seed file (default sample/seed.json); seeding twice adds nothing
  migrate               create or upgrade the store's tables and indexes, then exit
  keys create --name NAME --scopes S1,S2 [--expires-in 720h]
                        make an API key in the store and print it (once); scopes:
${SCOPE_LINES}
  keys list             the store's keys (id, name, scopes, created, last used, revoked; never the key)
  keys revoke ID        revoke a key: every node refuses it within auth.keyRefreshInterval
  keys hash --name NAME --scopes S1,S2
                        make a key without storing it: prints the key and the auth.apiKeys item (its hash)
${DESTINATIONS_USAGE}
${SCHEDULES_USAGE}
  bench [options]       measure delivery throughput per store against the HTTP limit (docs/performance.md)
  bench --nodes 1,2,3   scale-out: the same messages through 1, 2, 3 nodes on PostgreSQL/MongoDB + Redis (docs/cluster.md)
  bench lanes           destinations' lanes: a held destination's backlog against the others' deliveries
  bench schedules       schedules: on time beside plain messages, and the scheduler's pass at scale
  bench dashboard       the dashboard's reads (overview, filtered message pages) with 1,000,000 stored messages
  bench flood           delivery under an API write flood: an api node beside a worker node, and one all node
  bench access          what authentication and the API rate limiter cost a request, and how exactly the bucket holds
  bench fairness        one key flooding 1,000-message pages: what everyone else's requests wait
  bench ratelimit       the API's rate limiter beside @fastify/rate-limit: what each lets through, what each costs
  sink [options]        run a local webhook receiver that answers like webhook.site
      --port N            port (default 4000)
      --host H            address (default 127.0.0.1)
      --fail-rate R       share of requests answered 500 (0..1, default 0)
      --throttle-rate R   share answered 429 with Retry-After (0..1, default 0)
      --timeout-rate R    share held --hang-ms (default 30000) and then answered 504 (0..1, default 0)
      --slow-rate R       share delayed a further --slow-ms (default 2000) (0..1, default 0)
      --latency MS        added latency: 50, or a range 20-200
      --secret whsec_...  verify Standard Webhooks signatures (401 when invalid)
      --keep N            keep the last N deliveries for GET /deliveries (default 1000)
    GET /stats gives the counts (requests, duplicates of webhook-id, ...); they are printed on exit.
  help, --help          this text
  --version             the version

Configuration: .config/dev.yaml or dev.yml (CONFIG_PATH, CONFIG_ENV) and environment variables; see docs/configuration.md.`;

/** One line for the operator, no stack trace. */
function die(message: string, code = 1): never {
  process.stderr.write(`message-scheduler: ${redact(message, secretsOf(process.env))}\n`);
  process.exit(code);
}

function config(overrides: Record<string, string> = {}): Config {
  try {
    return loadConfig({ ...process.env, ...overrides });
  } catch (err) {
    if (err instanceof ConfigError) die(err.message, 2);
    throw err;
  }
}

function describeStore(c: Config): string {
  if (c.store.kind === 'sqlite') return `SQLite at ${c.store.sqlitePath}`;
  if (c.store.kind === 'postgres') return 'PostgreSQL (DATABASE_URL)';
  return `MongoDB (MONGODB_URI, db ${c.store.mongoDbName}, collection ${c.store.mongoCollection})`;
}

function startupFailure(c: Config, err: unknown): never {
  const e = err as Error & { code?: string };
  die(
    `cannot start: ${describeStore(c)} or Redis is not reachable or usable: ${e.code ? e.code + ' ' : ''}${e.message.split('\n')[0]}`,
  );
}

/** A URL the config already parsed, with its user and password left out (never a pattern's guess). */
function withoutCredentials(url: string): string {
  const u = new URL(url);
  return `${u.origin}${u.pathname === '/' ? '' : u.pathname}`;
}

function logConfig(logger: Logger, c: Config): void {
  if (c.ignoredConfigFile) {
    logger.warn(
      { file: c.configFile, ignored: c.ignoredConfigFile },
      'two config files: the .yml one is ignored',
    );
  }
  for (const key of c.unknownKeys) logger.warn({ key, file: c.configFile }, 'unknown config key ignored');
  logger.info(
    {
      store: c.store.kind,
      cache: c.redis ? 'redis' : 'none',
      webhook: new URL(c.webhook.url).origin,
      signing: c.webhook.signingSecrets.length,
      numWorkers: c.pool.numWorkers,
      rateLimiter: c.rateLimiter,
      auth: {
        mode: c.auth.mode,
        configuredKeys: c.auth.keys.length,
        oauth2Issuer: c.auth.jwt?.issuer ?? null,
        corsOrigins: c.api.corsOrigins.length,
        allowedHosts: c.api.allowedHosts,
      },
      apiRateLimiter: c.apiRateLimiter,
      tracing: c.tracing
        ? {
            // the origin and path: no user or password, however they are spelled
            endpoint: withoutCredentials(c.tracing.endpoint),
            protocol: c.tracing.protocol,
            service: c.tracing.serviceName,
          }
        : null,
      configFile: c.configFile,
    },
    'configuration',
  );
}

async function serve(seed: boolean, role: string | undefined): Promise<void> {
  const c = config(role !== undefined ? { NODE_ROLE: role } : {});
  const logger = createLogger(c.logLevel, undefined, c.secrets);
  logConfig(logger, c);
  let app;
  try {
    app = await createApp(c, logger);
  } catch (err) {
    startupFailure(c, err);
  }
  // bind first: a start that cannot serve (the port is taken, as by a first `make run` still
  // running) stops before it writes anything; the seed goes in before delivery starts
  try {
    await app.server.listen({ port: c.port, host: c.host });
  } catch (err) {
    await app.close();
    die(`cannot listen on ${c.host}:${c.port}: ${(err as Error).message} (is another instance running?)`);
  }
  if (seed || c.seedAtStart) await seedFromFile(app.store, 'sample/seed.json', logger);
  // an api node never delivers: its pool is never started (it still follows and sets the cluster state)
  if (c.role !== 'api') app.pool.start();
  logger.info(
    {
      node: app.nodeId,
      role: c.role,
      state: app.pool.getState(),
      swagger: `http://localhost:${c.port}/swagger/`,
    },
    'started',
  );

  let stopping = false;
  const onSignal = (signal: NodeJS.Signals): void => {
    if (stopping) {
      logger.warn({ signal }, 'second signal: exiting now');
      process.exit(130);
    }
    stopping = true;
    logger.info({ signal, timeoutMs: c.pool.timeoutMs }, 'shutting down: finishing in-flight deliveries');
    app
      .close()
      .then(() => {
        logger.info('stopped');
        process.exit(0);
      })
      .catch((err: unknown) => {
        logger.error({ err }, 'shutdown failed');
        process.exit(1);
      });
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
}

async function withStore<T>(
  fn: (c: Config, logger: Logger, store: Awaited<ReturnType<typeof createStore>>) => Promise<T>,
  /** log to stderr: the command's stdout is its answer (a key a script reads) */
  logToStderr = false,
): Promise<T> {
  const c = config();
  const logger = logToStderr
    ? createLogger(c.logLevel, pino.destination(2), c.secrets)
    : createLogger(c.logLevel, undefined, c.secrets);
  const store = await createStore(c.store, 10, logger);
  try {
    await store.init();
  } catch (err) {
    await store.close().catch(() => undefined);
    startupFailure(c, err);
  }
  try {
    return await fn(c, logger, store);
  } finally {
    await store.close();
  }
}

function cliActor(): string {
  try {
    return `cli (${userInfo().username})`;
  } catch {
    return 'cli';
  }
}

function scopesArg(values: { name?: string; scopes?: string }): { name: string; scopes: string[] } {
  if (!values.name) die('keys: --name NAME is required', 2);
  if (!values.scopes) die(`keys: --scopes is required (comma-separated: ${SCOPE_NAMES.join(', ')})`, 2);
  const scopes = values.scopes
    .split(',')
    .map((x) => x.trim())
    .filter((x) => x !== '');
  try {
    checkKeyRequest(values.name, scopes);
  } catch (err) {
    if (err instanceof KeyRequestError) die(`keys: ${err.message}`, 2);
    throw err;
  }
  return { name: values.name, scopes };
}

async function keysCommand(args: string[]): Promise<void> {
  const [sub, ...rest] = args;
  const opts = { name: { type: 'string' as const }, scopes: { type: 'string' as const } };
  switch (sub) {
    case 'create': {
      const { values } = parseArgs({ args: rest, options: { ...opts, 'expires-in': { type: 'string' } } });
      const { name, scopes } = scopesArg(values);
      let expiresAt: Date | null = null;
      if (values['expires-in'] !== undefined) {
        const ms = parseDuration(values['expires-in']);
        if (ms === null || ms <= 0)
          die(
            `keys create: --expires-in ${JSON.stringify(values['expires-in'])} is invalid: expected a duration such as 720h`,
            2,
          );
        expiresAt = new Date(Date.now() + (ms ?? 0));
      }
      const made = await withStore(async (_c, logger, store) => {
        const m = await createApiKey(store.keys, name, scopes, new Date(), expiresAt);
        logger.info(
          { actor: cliActor(), key_id: m.record.id, key_name: m.record.name, scopes: m.record.scopes },
          'API key created',
        );
        return m;
      }, true);
      process.stdout.write(
        `${made.key}\n# id ${made.record.id}, name ${made.record.name}, scopes ${made.record.scopes.join(',')}, ` +
          `expires ${made.record.expires_at?.toISOString() ?? 'never'}: shown once; the store keeps only its hash\n`,
      );
      return;
    }
    case 'hash': {
      const { name, scopes } = scopesArg(parseArgs({ args: rest, options: opts }).values);
      const { key } = generateKey();
      process.stdout.write(
        `${key}\n# auth.apiKeys item (or AUTH_API_KEYS, space-separated), stored nowhere else:\n${configItem(name, checkKeyRequest(name, scopes), key)}\n`,
      );
      return;
    }
    case 'list': {
      const list = await withStore((_c, _l, store) => store.keys.listKeys(), true);
      for (const k of list.map(keyJson)) {
        process.stdout.write(
          `${k.id}  ${k.name}  ${k.scopes.join(',')}  created ${k.created_at}  last used ${k.last_used_at ?? 'never'}  expires ${k.expires_at ?? 'never'}${k.revoked_at ? `  REVOKED ${k.revoked_at}` : ''}\n`,
        );
      }
      if (list.length === 0) process.stdout.write('no API keys in the store\n');
      return;
    }
    case 'revoke': {
      const id = rest[0];
      if (!id || !/^[0-9a-f]{12}$/.test(id))
        die('keys revoke: expected the key id (12 hex digits, from keys list)', 2);
      const record = await withStore(async (_c, logger, store) => {
        const r = await store.keys.revokeKey(id, new Date());
        if (r) logger.info({ actor: cliActor(), key_id: r.id, key_name: r.name }, 'API key revoked');
        return r;
      }, true);
      if (!record) die(`keys revoke: no API key ${id}`);
      process.stdout.write(`revoked ${record.id} (${record.name}) at ${record.revoked_at?.toISOString()}\n`);
      return;
    }
    default:
      die('keys: expected create, list, revoke or hash (message-scheduler help)', 2);
  }
}

async function destinationsCli(args: string[]): Promise<void> {
  let out: string;
  try {
    out = await destinationsCommand(args, (fn) =>
      withStore(async (c, logger, store) => {
        const { service, registry } = await openDestinations(c, store, logger, cliActor());
        try {
          const health = new DestinationHealth({
            store: store.health,
            // no pool runs here: the rate shown is the destination's own, not a node's slow-down
            flow: null,
            windowMs: c.destinations.breaker.windowMs,
            now: Date.now,
          });
          const result = await fn(service, health);
          if (args[0] !== 'list' && args[0] !== 'show') {
            logger.info(
              { actor: cliActor(), command: `destinations ${args[0] ?? ''}` },
              'destination changed',
            );
          }
          return result;
        } finally {
          registry.close();
        }
      }, true),
    );
  } catch (err) {
    if (err instanceof DestinationError) {
      die(`destinations: ${err.message}`, err.kind === 'invalid' || err.kind === 'url_denied' ? 2 : 1);
    }
    if (err instanceof TypeError && 'code' in err && String(err.code).startsWith('ERR_PARSE_ARGS')) {
      die(`destinations: ${err.message}`, 2);
    }
    throw err;
  }
  if (out) process.stdout.write(out + '\n');
}

async function schedulesCli(args: string[]): Promise<void> {
  let out: string;
  try {
    out = await schedulesCommand(args, (fn) =>
      withStore(async (c, logger, store) => {
        const { registry } = await openDestinations(c, store, logger, cliActor());
        try {
          // the running nodes' pools find a triggered message at their next look (pool.workerJobInterval)
          const { service } = createSchedules(c, {
            store,
            registry,
            metrics: null,
            onCreated: () => undefined,
            logger,
          });
          const result = await fn(service);
          if (args[0] !== 'list' && args[0] !== 'show') {
            logger.info({ actor: cliActor(), command: `schedules ${args[0] ?? ''}` }, 'schedule changed');
          }
          return result;
        } finally {
          registry.close();
        }
      }, true),
    );
  } catch (err) {
    if (err instanceof ScheduleError) die(`schedules: ${err.message}`, err.kind === 'invalid' ? 2 : 1);
    if (err instanceof TypeError && 'code' in err && String(err.code).startsWith('ERR_PARSE_ARGS')) {
      die(`schedules: ${err.message}`, 2);
    }
    throw err;
  }
  if (out) process.stdout.write(out + '\n');
}

/** What bench/cli.ts offers; declared here because src/ never imports from bench/ (docs/architecture.md). */
interface Tools {
  runTool(command: 'bench' | 'sink', args: string[]): Promise<void>;
}

/**
 * The benchmark and the test receiver live beside the service, in bench/: a source checkout (and
 * its build) has them, the npm package and the Docker image hold the service alone.
 */
async function tools(): Promise<Tools> {
  const ext = import.meta.url.endsWith('.ts') ? 'ts' : 'js';
  const url = new URL(`../../bench/cli.${ext}`, import.meta.url);
  try {
    return (await import(url.href)) as Tools;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ERR_MODULE_NOT_FOUND' && String(err).includes('bench/cli')) {
      die(
        'the bench and sink commands come with a source checkout (bench/): this install holds the service only',
        2,
      );
    }
    throw err;
  }
}

async function main(argv: string[]): Promise<void> {
  const [command = 'serve', ...rest] = argv;
  switch (command) {
    case 'serve': {
      const { values } = parseArgs({
        args: rest,
        options: { seed: { type: 'boolean' }, role: { type: 'string' } },
      });
      return serve(values.seed ?? false, values.role);
    }
    case 'seed': {
      const file = rest[0] ?? 'sample/seed.json';
      const report = await withStore((_c, logger, store) => seedFromFile(store, file, logger));
      process.stdout.write(
        `seeded ${file}: ${report.inserted} inserted, ${report.skipped} already there, ${report.errors.length} rejected\n`,
      );
      for (const e of report.errors) process.stdout.write(`  row ${e.index}: ${e.reason}\n`);
      process.exit(report.errors.some((e) => e.index === -1) ? 1 : 0);
      return;
    }
    case 'migrate':
      await withStore(async (c) => {
        process.stdout.write(`${describeStore(c)}: schema is up to date\n`);
      });
      return;
    case 'keys':
      return keysCommand(rest);
    case 'destinations':
      return destinationsCli(rest);
    case 'schedules':
      return schedulesCli(rest);
    case 'sink':
    case 'bench':
      return (await tools()).runTool(command, rest);
    case 'help':
    case '--help':
    case '-h':
      process.stdout.write(USAGE + '\n');
      return;
    case '--version':
      process.stdout.write(VERSION + '\n');
      return;
    default:
      process.stderr.write(USAGE + '\n');
      die(`unknown command ${JSON.stringify(command)}`, 2);
  }
}

main(process.argv.slice(2)).catch((err: unknown) => {
  const e = err as Error;
  die(e.message?.split('\n')[0] ?? String(err));
});
