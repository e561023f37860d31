/**
 * `bench ratelimit`: the API's rate limiter (src/ratelimit/api-limiter.ts, a token bucket per
 * client) beside @fastify/rate-limit configured as close to it as that plugin allows (the same
 * long-run rate and burst, the same client key, the same store: this process or Redis), on the
 * same Fastify app, driven by the same requests (inject: no sockets, so what is measured is the
 * limiter). It prints what each lets through in the cases the documented behaviour names
 * (README, "Rate limiting"; docs/decisions.md, "Rate limiting") and what each costs a request,
 * in alternated rounds. docs/decisions.md records a run and the decision it supports.
 */
import { parseArgs } from 'node:util';
import Fastify, { type FastifyInstance } from 'fastify';
import rateLimit from '@fastify/rate-limit';
import { Redis } from 'ioredis';
import { loadConfig } from '../src/config/config.js';
import { silentLogger } from '../src/logging/logger.js';
import { ApiLimiter } from '../src/ratelimit/api-limiter.js';
import { MemoryBuckets, type BucketPolicy, type KeyedBuckets } from '../src/ratelimit/token-bucket.js';
import { RedisBuckets } from '../src/ratelimit/redis-buckets.js';
import { median } from './processes.js';
import { say, wholeNumber } from './report.js';

type Kind = 'ours' | 'plugin';
type Store = 'memory' | 'redis';

interface Built {
  app: FastifyInstance;
  close(): Promise<void>;
}

/** A page of 1,000 rows costs this many tokens here (api/routes/messages.ts weighs a page by its size). */
const PAGE_COST = 10;

async function build(
  kind: Kind,
  store: Store,
  policy: BucketPolicy,
  redisUri: string,
  prefix: string,
): Promise<Built> {
  const app = Fastify();
  const closers: (() => Promise<unknown>)[] = [];
  if (kind === 'ours') {
    let buckets: KeyedBuckets = new MemoryBuckets(policy);
    if (store === 'redis') {
      const redis = loadConfig({ REDIS_URI: redisUri }).redis;
      if (!redis) throw new Error('REDIS_URI is needed for the Redis store');
      const r = new RedisBuckets(redis, policy, `${prefix}ours:`, silentLogger());
      await r.connect();
      buckets = r;
    }
    const limiter = new ApiLimiter(buckets, policy);
    closers.push(() => limiter.close());
    app.addHook('onRequest', async (req, reply) => {
      const cost = req.url.startsWith('/page') ? PAGE_COST : 1;
      const { headers, refused } = await limiter.take(`ip:${req.ip}`, cost);
      void reply.headers(headers);
      if (refused) {
        return reply
          .code(429)
          .header('retry-after', String(refused.retryAfterS))
          .send({ code: 'RATE_LIMITED' });
      }
    });
  } else {
    const redis = store === 'redis' ? new Redis(redisUri, { keyPrefix: `${prefix}plugin:` }) : undefined;
    if (redis) closers.push(() => redis.quit());
    // the same long-run rate (refillRate per refillInterval) and the same burst (maxTokens) as a
    // fixed window can give: max requests per window of maxTokens / rate
    await app.register(rateLimit, {
      max: policy.maxTokens,
      timeWindow: Math.round((policy.maxTokens / policy.refillRate) * policy.refillIntervalMs),
      keyGenerator: (req) => `ip:${req.ip}`,
      enableDraftSpec: true,
      ...(redis ? { redis } : {}),
    });
  }
  app.get('/one', async () => ({ ok: true }));
  app.get('/page', async () => ({ ok: true }));
  await app.ready();
  return {
    app,
    async close() {
      await app.close();
      for (const c of closers) await c();
    },
  };
}

async function send(
  app: FastifyInstance,
  path: string,
  n: number,
): Promise<{ ok: number; last: Record<string, unknown> }> {
  let ok = 0;
  let last: Record<string, unknown> = {};
  for (let i = 0; i < n; i++) {
    const r = await app.inject({ method: 'GET', url: path, remoteAddress: '203.0.113.7' });
    if (r.statusCode === 200) ok++;
    last = { status: r.statusCode, ...r.headers };
  }
  return { ok, last };
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Headers a client reads to pace itself (the limiter's, not Fastify's own). */
function limitHeaders(h: Record<string, unknown>): string {
  return Object.entries(h)
    .filter(([k]) => /ratelimit|retry-after/i.test(k))
    .map(([k, v]) => `${k}: ${String(v)}`)
    .join('; ');
}

export async function runRateLimitCompare(args: string[]): Promise<void> {
  const { values } = parseArgs({
    args,
    options: { rounds: { type: 'string' }, requests: { type: 'string' }, 'no-redis': { type: 'boolean' } },
  });
  const rounds = wholeNumber('bench ratelimit', 'rounds', values.rounds, 3);
  const requests = wholeNumber('bench ratelimit', 'requests', values.requests, 5000);
  const redisUri = process.env.REDIS_URI ?? '';
  const stores: Store[] = values['no-redis'] || !redisUri ? ['memory'] : ['memory', 'redis'];
  const prefix = `ms-rlc-${process.pid}:`;
  // a burst of 20, refilled at 20 per second: a window of 1 s for the plugin
  const policy: BucketPolicy = { maxTokens: 20, refillRate: 20, refillIntervalMs: 1000 };
  const line = say;
  line(
    `bench ratelimit: burst ${policy.maxTokens}, ${policy.refillRate} per ${policy.refillIntervalMs} ms, one client; stores: ${stores.join(', ')}`,
  );
  line('');
  line('| case | store | ours (token bucket) | @fastify/rate-limit (fixed window) |');
  line('|---|---|---|---|');
  for (const store of stores) {
    const run = async (kind: Kind, fn: (app: FastifyInstance) => Promise<string>): Promise<string> => {
      const b = await build(
        kind,
        store,
        policy,
        redisUri,
        `${prefix}${kind}${Math.random().toString(36).slice(2, 8)}:`,
      );
      try {
        return await fn(b.app);
      } finally {
        await b.close();
      }
    };
    // 1. twice the burst within 100 ms of a window's end and the next window's start
    const edge = async (app: FastifyInstance): Promise<string> => {
      await send(app, '/one', 1); // the window (or bucket) begins
      await sleep(policy.refillIntervalMs - 60);
      const a = await send(app, '/one', policy.maxTokens);
      await sleep(80);
      const b = await send(app, '/one', policy.maxTokens);
      return `${a.ok + b.ok} of ${2 * policy.maxTokens} let through within ~100 ms`;
    };
    line(
      `| a full burst just before a window ends and another just after | ${store} | ${await run('ours', edge)} | ${await run('plugin', edge)} |`,
    );
    // 2. large pages: a request that costs more than one token
    const pages = async (app: FastifyInstance): Promise<string> => {
      const r = await send(app, '/page', policy.maxTokens);
      return `${r.ok} pages of ${policy.maxTokens} asked`;
    };
    line(
      `| 1,000-row pages (cost ${PAGE_COST} here) from a full bucket | ${store} | ${await run('ours', pages)} | ${await run('plugin', pages)} |`,
    );
    // 3. what a refused answer says
    const headers = async (app: FastifyInstance): Promise<string> => {
      const r = await send(app, '/one', policy.maxTokens + 1);
      return limitHeaders(r.last).replace(/\|/g, '\\|');
    };
    line(`| headers of a 429 | ${store} | ${await run('ours', headers)} | ${await run('plugin', headers)} |`);
  }
  line('');
  line(
    `What a request costs (µs, median of ${rounds} alternated rounds of ${requests} requests within the limit):`,
  );
  line('');
  line('| store | ours | @fastify/rate-limit | none |');
  line('|---|---|---|---|');
  const roomy: BucketPolicy = { maxTokens: 1e9, refillRate: 1e9, refillIntervalMs: 1000 };
  for (const store of stores) {
    const times: Record<Kind | 'none', number[]> = { ours: [], plugin: [], none: [] };
    for (let round = 0; round < rounds; round++) {
      const order: (Kind | 'none')[] =
        round % 2 === 0 ? ['ours', 'plugin', 'none'] : ['none', 'plugin', 'ours'];
      for (const kind of order) {
        const b =
          kind === 'none'
            ? { app: Fastify().get('/one', async () => ({ ok: true })), close: async () => undefined }
            : await build(kind, store, roomy, redisUri, `${prefix}t${round}${kind}:`);
        await b.app.ready();
        await send(b.app, '/one', 200); // warm up
        const t0 = process.hrtime.bigint();
        await send(b.app, '/one', requests);
        times[kind].push(Number(process.hrtime.bigint() - t0) / 1000 / requests);
        await b.app.close();
        await b.close();
      }
    }
    const f = (xs: number[]): string => median(xs).toFixed(1);
    line(`| ${store} | ${f(times.ours)} | ${f(times.plugin)} | ${f(times.none)} |`);
  }
}
