/**
 * `message-scheduler destinations add|list|show|pause|resume|remove`: the API's destination
 * operations on the store directly (the same rules: destinations/destination-service.ts), for an
 * operator at the server. Output is one line per destination, or the JSON the API answers (--json).
 */
import { parseArgs } from 'node:util';
import { DestinationError, type DestinationService } from '../destinations/destination-service.js';
import type { DestinationInput } from '../destinations/spec-input.js';
import { destinationView } from '../destinations/spec-input.js';
import type { Destination } from '../domain/destination.js';
import { DEFAULT_DESTINATION_ID, publicUrl } from '../domain/destination.js';
import { healthJson, healthLine, type DestinationHealth, type HealthView } from '../destinations/health.js';

export const DESTINATIONS_USAGE = `  destinations add --url URL [--id ID] [--secret whsec_...]... [--topic T]... [--header K=V]...
                   [--timeout 5s] [--rate 10/1s[/burst]] [--max-in-flight N] [--retry N/base/max[/max_age]]
                   [--description TEXT] [--metadata K=V]... [--json]
                        add a destination (a receiver with its own URL, secrets, limits and retries)
  destinations list [--topic T] [--json]
  destinations show ID [--json]
  destinations pause ID | resume ID | remove ID`;

/** Runs `fn` with the store's destinations and their health figures (health.ts, read from the store). */
export type Runner = <T>(
  fn: (service: DestinationService, health: DestinationHealth) => Promise<T>,
) => Promise<T>;

/** A one-line summary of a destination (secrets never shown). */
function line(d: Destination): string {
  const v = destinationView(d);
  const parts = [
    d.id,
    d.status + (d.disabled_reason ? ` (${d.disabled_reason})` : ''),
    d.id === DEFAULT_DESTINATION_ID ? publicUrl(d.url) : d.url,
  ];
  if (d.topics.length > 0) parts.push(`topics ${d.topics.join(',')}`);
  if (v.rate_limit) parts.push(`rate ${d.rate_limit?.limit}/${(v.rate_limit as { period: string }).period}`);
  if (d.max_in_flight !== null) parts.push(`max in flight ${d.max_in_flight}`);
  parts.push(`${d.secrets.length} secret${d.secrets.length === 1 ? '' : 's'}`);
  return parts.join('  ');
}

/** A destination as one line, or the JSON the API answers; with its health (`show`), as the API's GET does. */
function show(d: Destination, json: boolean, health: HealthView | null = null): string {
  if (json)
    return JSON.stringify(
      health ? { ...destinationView(d), health: healthJson(health) } : destinationView(d),
    );
  return health ? `${line(d)}\n  ${healthLine(health)}` : line(d);
}

function pairs(items: string[] | undefined, what: string): Record<string, string> | undefined {
  if (!items) return undefined;
  const out: Record<string, string> = {};
  for (const item of items) {
    const i = item.indexOf('=');
    if (i <= 0)
      throw new DestinationError('invalid', `--${what} ${JSON.stringify(item)}: expected KEY=VALUE`);
    out[item.slice(0, i)] = item.slice(i + 1);
  }
  return out;
}

/** `--rate 10/1s` or `10/1s/20` (limit, period, burst). */
function rate(text: string | undefined): DestinationInput['rate_limit'] | undefined {
  if (text === undefined) return undefined;
  const [limit, period, burst] = text.split('/');
  if (!limit || !period)
    throw new DestinationError(
      'invalid',
      `--rate ${JSON.stringify(text)}: expected LIMIT/PERIOD[/BURST], e.g. 10/1s`,
    );
  return { limit: Number(limit), period, ...(burst ? { burst: Number(burst) } : {}) };
}

/** `--retry 5/1s/10m` or `5/1s/10m/24h` (attempts, base delay, max delay, max age). */
function retry(text: string | undefined): DestinationInput['retry'] | undefined {
  if (text === undefined) return undefined;
  const [n, base, max, age] = text.split('/');
  if (!n || !base || !max) {
    throw new DestinationError(
      'invalid',
      `--retry ${JSON.stringify(text)}: expected ATTEMPTS/BASE/MAX[/MAX_AGE], e.g. 5/1s/10m`,
    );
  }
  return { max_attempts: Number(n), base_delay: base, max_delay: max, ...(age ? { max_age: age } : {}) };
}

/** Runs one subcommand; returns what to print. A DestinationError is for the caller to report. */
export async function destinationsCommand(args: string[], run: Runner): Promise<string> {
  const [sub, ...rest] = args;
  switch (sub) {
    case 'add': {
      const { values } = parseArgs({
        args: rest,
        options: {
          id: { type: 'string' },
          url: { type: 'string' },
          description: { type: 'string' },
          secret: { type: 'string', multiple: true },
          topic: { type: 'string', multiple: true },
          header: { type: 'string', multiple: true },
          metadata: { type: 'string', multiple: true },
          timeout: { type: 'string' },
          rate: { type: 'string' },
          'max-in-flight': { type: 'string' },
          retry: { type: 'string' },
          json: { type: 'boolean' },
        },
      });
      const input: DestinationInput = {
        ...(values.id !== undefined ? { id: values.id } : {}),
        ...(values.url !== undefined ? { url: values.url } : {}),
        ...(values.description !== undefined ? { description: values.description } : {}),
        ...(values.secret ? { secrets: values.secret.map((secret) => ({ secret })) } : {}),
        ...(values.topic ? { topics: values.topic } : {}),
        ...(values.timeout !== undefined ? { timeout: values.timeout } : {}),
        ...(values['max-in-flight'] !== undefined ? { max_in_flight: Number(values['max-in-flight']) } : {}),
      };
      const headers = pairs(values.header, 'header');
      if (headers) input.headers = headers;
      const metadata = pairs(values.metadata, 'metadata');
      if (metadata) input.metadata = metadata;
      const r = rate(values.rate);
      if (r) input.rate_limit = r;
      const t = retry(values.retry);
      if (t) input.retry = t;
      const d = await run((s) => s.create(input, new Date()));
      return show(d, values.json ?? false);
    }
    case 'list': {
      const { values } = parseArgs({
        args: rest,
        options: { topic: { type: 'string' }, json: { type: 'boolean' } },
      });
      const all: Destination[] = [];
      await run(async (s) => {
        let after: string | undefined;
        for (;;) {
          const page = await s.list({
            limit: 500,
            ...(after !== undefined ? { after } : {}),
            ...(values.topic !== undefined ? { topic: values.topic } : {}),
          });
          all.push(...page.items);
          if (!page.next) return;
          after = page.next;
        }
      });
      return all.map((d) => show(d, values.json ?? false)).join('\n');
    }
    case 'show':
    case 'pause':
    case 'resume':
    case 'remove': {
      const { values, positionals } = parseArgs({
        args: rest,
        options: { json: { type: 'boolean' } },
        allowPositionals: true,
      });
      const id = positionals[0];
      if (!id || positionals.length > 1)
        throw new DestinationError('invalid', `destinations ${sub}: expected one destination id`);
      if (sub === 'remove') {
        await run((s) => s.remove(id));
        return `removed ${id}`;
      }
      if (sub === 'show') {
        // `default` has no breaker and no health of its own, as in the API
        const [d, h] = await run(async (s, health) => {
          const found = await s.get(id);
          return [found, found.id === DEFAULT_DESTINATION_ID ? null : await health.of(found)] as const;
        });
        return show(d, values.json ?? false, h);
      }
      const d = await run((s) => s.setStatus(id, sub === 'pause' ? 'paused' : 'active', new Date()));
      return show(d, values.json ?? false);
    }
    default:
      throw new DestinationError(
        'invalid',
        'destinations: expected add, list, show, pause, resume or remove (message-scheduler help)',
      );
  }
}
