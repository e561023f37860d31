/**
 * The commands that live beside the service (src/cli/main.ts loads this file for `bench` and
 * `sink`): the benchmark and a local webhook receiver. They ship with a source checkout only.
 */
import { parseArgs } from 'node:util';
import { Sink } from './sink.js';

function die(message: string, code: number): never {
  process.stderr.write(`message-scheduler: ${message}\n`);
  process.exit(code);
}

function num(name: string, v: string | undefined, fallback: number, min: number, max: number): number {
  if (v === undefined) return fallback;
  const n = Number(v);
  if (!Number.isFinite(n) || n < min || n > max)
    die(`--${name} ${JSON.stringify(v)} is invalid: expected a number from ${min} to ${max}`, 2);
  return n;
}

async function sink(args: string[]): Promise<void> {
  const { values } = parseArgs({
    args,
    options: {
      port: { type: 'string' },
      host: { type: 'string' },
      'fail-rate': { type: 'string' },
      'throttle-rate': { type: 'string' },
      'timeout-rate': { type: 'string' },
      'hang-ms': { type: 'string' },
      'slow-rate': { type: 'string' },
      'slow-ms': { type: 'string' },
      latency: { type: 'string' },
      secret: { type: 'string' },
      quiet: { type: 'boolean' },
      keep: { type: 'string' },
    },
  });
  let latency: number | [number, number] = 0;
  if (values.latency !== undefined) {
    const m = /^(\d+(?:\.\d+)?)(?:-(\d+(?:\.\d+)?))?$/.exec(values.latency);
    if (!m || m[1] === undefined)
      die(`--latency ${JSON.stringify(values.latency)} is invalid: expected MS or MIN-MAX`, 2);
    latency = m[2] !== undefined ? [Number(m[1]), Number(m[2])] : Number(m[1]);
  }
  if (values.secret !== undefined && !/^whsec_[A-Za-z0-9+/]+={0,2}$/.test(values.secret)) {
    die('--secret is invalid: expected whsec_ followed by base64', 2);
  }
  const s = new Sink({
    port: num('port', values.port, 4000, 0, 65535),
    host: values.host ?? '127.0.0.1',
    failRate: num('fail-rate', values['fail-rate'], 0, 0, 1),
    throttleRate: num('throttle-rate', values['throttle-rate'], 0, 0, 1),
    timeoutRate: num('timeout-rate', values['timeout-rate'], 0, 0, 1),
    hangMs: num('hang-ms', values['hang-ms'], 30_000, 0, 3_600_000),
    slowRate: num('slow-rate', values['slow-rate'], 0, 0, 1),
    slowMs: num('slow-ms', values['slow-ms'], 2000, 0, 3_600_000),
    latencyMs: latency,
    secret: values.secret ?? '',
    keep: num('keep', values.keep, 1000, 0, 10_000_000),
  });
  const port = await s.start();
  process.stdout.write(`sink listening on http://${values.host ?? '127.0.0.1'}:${port}/ (GET /stats)\n`);
  const stop = (): void => {
    process.stdout.write(`sink stats: ${JSON.stringify(s.stats())}\n`);
    void s.stop().then(() => process.exit(0));
  };
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
}

/** The actor of a CLI action, as the logs name it: the OS user. */

export async function runTool(command: 'bench' | 'sink', args: string[]): Promise<void> {
  if (command === 'sink') return sink(args);
  if (args[0] === 'access') return (await import('./api-access.js')).runAccessBench(args.slice(1));
  if (args[0] === 'fairness') return (await import('./fairness.js')).runFairnessBench(args.slice(1));
  if (args[0] === 'lanes') return (await import('./lanes.js')).runLanesBench(args.slice(1));
  if (args[0] === 'schedules') return (await import('./schedules.js')).runSchedulesBench(args.slice(1));
  if (args[0] === 'dashboard') return (await import('./dashboard.js')).runDashboardBench(args.slice(1));
  if (args[0] === 'flood') return (await import('./flood.js')).runFloodBench(args.slice(1));
  if (args[0] === 'ratelimit') {
    return (await import('./ratelimit-compare.js')).runRateLimitCompare(args.slice(1));
  }
  if (args.some((a) => a === '--nodes' || a.startsWith('--nodes='))) {
    return (await import('./scale-out.js')).runScaleOutBench(args);
  }
  return (await import('./bench.js')).runBench(args);
}
