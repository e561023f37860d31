/**
 * `message-scheduler schedules add|list|show|pause|resume|trigger|remove`: the API's schedule
 * operations on the store directly (the same rules: schedules/schedule-service.ts), for an
 * operator at the server. Output is one line per schedule, or the JSON the API answers (--json).
 */
import { parseArgs } from 'node:util';
import { ScheduleError, type ScheduleService } from '../schedules/schedule-service.js';
import { scheduleView, type ScheduleInput } from '../schedules/spec-input.js';
import { localTime } from '../schedules/calendar.js';
import type { Schedule } from '../domain/schedule.js';
import { formatDuration } from '../config/duration.js';

export const SCHEDULES_USAGE = `  schedules add (--cron 'PATTERN' [--timezone ZONE] | --every 15m) --content TEXT --phone NUMBER
                [--destination ID | --topic T] [--priority N] [--id ID] [--start-at T] [--end-at T]
                [--limit N] [--missed skip|once|all] [--description TEXT] [--json]
                        send a message on a calendar, once per occurrence across the cluster
  schedules list [--status active|paused|ended] [--json]
  schedules show ID [--json]      with its next 10 occurrences, UTC and local
  schedules pause ID | resume ID | trigger ID | remove ID`;

/** Runs `fn` with the store's schedules. */
export type ScheduleRunner = <T>(fn: (service: ScheduleService) => Promise<T>) => Promise<T>;

/** A one-line summary of a schedule. */
function line(s: Schedule): string {
  const when =
    s.cron !== null ? `cron '${s.cron}' ${s.timezone}` : `every ${formatDuration(s.every_ms ?? 0)}`;
  const to =
    s.message.topic !== null ? `topic ${s.message.topic}` : `to ${s.message.destination ?? 'default'}`;
  const next = s.next_run_at ? `next ${s.next_run_at.toISOString()}` : 'no next run';
  return [s.id, s.status, when, to, next, `${s.run_count} run${s.run_count === 1 ? '' : 's'}`].join('  ');
}

function number(text: string | undefined, flag: string): number | undefined {
  if (text === undefined) return undefined;
  const n = Number(text);
  if (!Number.isInteger(n))
    throw new ScheduleError('invalid', `--${flag} ${JSON.stringify(text)}: expected a whole number`);
  return n;
}

/** Runs one subcommand; returns what to print. A ScheduleError is for the caller to report. */
export async function schedulesCommand(args: string[], run: ScheduleRunner): Promise<string> {
  const [sub, ...rest] = args;
  switch (sub) {
    case 'add': {
      const { values } = parseArgs({
        args: rest,
        options: {
          id: { type: 'string' },
          cron: { type: 'string' },
          every: { type: 'string' },
          timezone: { type: 'string' },
          'start-at': { type: 'string' },
          'end-at': { type: 'string' },
          limit: { type: 'string' },
          missed: { type: 'string' },
          description: { type: 'string' },
          content: { type: 'string' },
          phone: { type: 'string' },
          priority: { type: 'string' },
          destination: { type: 'string' },
          topic: { type: 'string' },
          json: { type: 'boolean' },
        },
      });
      const priority = number(values.priority, 'priority');
      const limit = number(values.limit, 'limit');
      const input: ScheduleInput = {
        ...(values.id !== undefined ? { id: values.id } : {}),
        ...(values.cron !== undefined ? { cron: values.cron } : {}),
        ...(values.every !== undefined ? { every: values.every } : {}),
        ...(values.timezone !== undefined ? { timezone: values.timezone } : {}),
        ...(values['start-at'] !== undefined ? { start_at: values['start-at'] } : {}),
        ...(values['end-at'] !== undefined ? { end_at: values['end-at'] } : {}),
        ...(limit !== undefined ? { limit } : {}),
        ...(values.missed !== undefined ? { missed: values.missed as ScheduleInput['missed'] & string } : {}),
        ...(values.description !== undefined ? { description: values.description } : {}),
        message: {
          ...(values.content !== undefined ? { content: values.content } : {}),
          ...(values.phone !== undefined ? { recipient_phone_number: values.phone } : {}),
          ...(priority !== undefined ? { priority } : {}),
          ...(values.destination !== undefined ? { destination: values.destination } : {}),
          ...(values.topic !== undefined ? { topic: values.topic } : {}),
        },
      };
      const s = await run((svc) => svc.create(input, new Date()));
      return values.json ? JSON.stringify(scheduleView(s)) : line(s);
    }
    case 'list': {
      const { values } = parseArgs({
        args: rest,
        options: { status: { type: 'string' }, json: { type: 'boolean' } },
      });
      const status = values.status;
      if (status !== undefined && !['active', 'paused', 'ended'].includes(status)) {
        throw new ScheduleError(
          'invalid',
          `--status ${JSON.stringify(status)}: expected active, paused or ended`,
        );
      }
      const all: Schedule[] = [];
      await run(async (svc) => {
        let after: string | undefined;
        for (;;) {
          const page = await svc.list({
            limit: 500,
            ...(after !== undefined ? { after } : {}),
            ...(status !== undefined ? { status: status as Schedule['status'] } : {}),
          });
          all.push(...page.items);
          if (!page.next) return;
          after = page.next;
        }
      });
      return all.map((s) => (values.json ? JSON.stringify(scheduleView(s)) : line(s))).join('\n');
    }
    case 'show':
    case 'pause':
    case 'resume':
    case 'trigger':
    case 'remove': {
      const { values, positionals } = parseArgs({
        args: rest,
        options: { json: { type: 'boolean' } },
        allowPositionals: true,
      });
      const id = positionals[0];
      if (!id || positionals.length > 1)
        throw new ScheduleError('invalid', `schedules ${sub}: expected one schedule id`);
      const now = new Date();
      if (sub === 'remove') {
        await run((svc) => svc.remove(id));
        return `removed ${id}`;
      }
      if (sub === 'trigger') {
        const { messages } = await run((svc) => svc.trigger(id, now));
        return messages
          .map((m) => `triggered ${id}: message ${m.id} to ${m.destination_id ?? 'default'}`)
          .join('\n');
      }
      if (sub === 'show') {
        const [s, upcoming] = await run(async (svc) => {
          const found = await svc.get(id);
          return [found, svc.upcoming(found)] as const;
        });
        if (values.json) {
          return JSON.stringify({
            ...scheduleView(s),
            upcoming: upcoming.map((d) => ({ at: d.toISOString(), local: localTime(d, s.timezone) })),
          });
        }
        const runs = upcoming.map((d) => `  ${d.toISOString()}  ${localTime(d, s.timezone)}`);
        return [line(s), ...runs].join('\n');
      }
      const s = await run((svc) => (sub === 'pause' ? svc.pause(id, now) : svc.resume(id, now)));
      return values.json ? JSON.stringify(scheduleView(s)) : line(s);
    }
    default:
      throw new ScheduleError(
        'invalid',
        'schedules: expected add, list, show, pause, resume, trigger or remove (message-scheduler help)',
      );
  }
}
