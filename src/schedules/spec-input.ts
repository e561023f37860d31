/**
 * A schedule as the API and the CLI take it (snake_case, `every` written as the config writes
 * durations) and show it, checked into the stored spec. Every problem is named by its path, all at
 * once. The body's JSON shape is checked first by the API's schema; these are the rules a schema
 * cannot say (a cron pattern, a time zone, end after start).
 */
import { DESTINATION_ID, TOPIC } from '../domain/destination.js';
import { contentProblem, phoneProblem } from '../domain/message.js';
import {
  MISSED_POLICIES,
  type MessageTemplate,
  type MissedPolicy,
  type Schedule,
  type ScheduleSpec,
} from '../domain/schedule.js';
import { textProblem } from '../domain/text.js';
import { formatDuration, parseDuration } from '../config/duration.js';
import { cronProblem, isTimeZone } from './calendar.js';

export interface Problem {
  path: string;
  message: string;
}

export interface MessageTemplateInput {
  content?: string;
  recipient_phone_number?: string;
  priority?: number;
  destination?: string | null;
  topic?: string | null;
}

export interface ScheduleInput {
  id?: string;
  cron?: string;
  every?: string;
  timezone?: string;
  start_at?: string | null;
  end_at?: string | null;
  limit?: number | null;
  missed?: MissedPolicy;
  description?: string;
  message?: MessageTemplateInput;
}

export const SCHEDULE_LIMITS = {
  description: 1024,
  cron: 256,
  everyMinMs: 1000,
  everyMaxMs: 366 * 86_400_000,
  limit: 1_000_000_000,
  priority: 1000,
} as const;

const RFC3339 = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$/i;

/**
 * The spec `input` makes: for `create`, from scratch (defaults for what is left out); for `patch`,
 * `base` with the fields given (a `cron` replaces an `every` and the other way round; `message`'s
 * fields replace those given). With the problems found (empty: valid).
 */
export function scheduleSpecFromInput(
  input: ScheduleInput,
  base: ScheduleSpec | null,
  now: Date,
): { spec: ScheduleSpec; problems: Problem[]; timingChanged: boolean } {
  const problems: Problem[] = [];
  const bad = (path: string, message: string): void => void problems.push({ path, message });
  const time = (path: string, text: string | null | undefined, prev: Date | null): Date | null => {
    if (text === undefined) return prev;
    if (text === null) return null;
    const d = new Date(text);
    if (!RFC3339.test(text) || Number.isNaN(d.getTime())) {
      bad(path, `${JSON.stringify(text)} is not an RFC 3339 time such as 2027-01-04T09:00:00Z`);
      return prev;
    }
    return d;
  };

  if (input.cron !== undefined && input.every !== undefined) bad('/cron', 'give cron or every, not both');
  if (!base && input.cron === undefined && input.every === undefined) {
    bad('/cron', 'a schedule needs cron (a pattern) or every (an interval)');
  }
  const timezone = input.timezone ?? base?.timezone ?? 'UTC';
  if (input.timezone !== undefined && !isTimeZone(input.timezone)) {
    bad(
      '/timezone',
      `${JSON.stringify(input.timezone)} is not an IANA time-zone name such as Europe/Berlin or UTC`,
    );
  }
  let cron = base?.cron ?? null;
  let every = base?.every_ms ?? null;
  if (input.cron !== undefined) {
    cron = input.cron;
    every = null;
    const p =
      input.cron.length > SCHEDULE_LIMITS.cron ? `is longer than ${SCHEDULE_LIMITS.cron} characters` : null;
    const problem = p ?? (isTimeZone(timezone) ? cronProblem(input.cron, timezone) : null);
    if (problem) bad('/cron', problem);
  } else if (input.every !== undefined) {
    every = parseDuration(input.every);
    cron = null;
    if (every === null)
      bad('/every', `${JSON.stringify(input.every)} is not a duration such as 30s, 15m or 24h`);
    else if (every < SCHEDULE_LIMITS.everyMinMs || every > SCHEDULE_LIMITS.everyMaxMs) {
      bad('/every', `${input.every} is out of range: expected 1s to 366d (8784h)`);
    }
  }
  const start_at = time('/start_at', input.start_at, base?.start_at ?? null);
  const end_at = time('/end_at', input.end_at, base?.end_at ?? null);
  if (start_at && end_at && end_at.getTime() <= start_at.getTime()) bad('/end_at', 'is not after start_at');
  if (input.end_at && end_at && end_at.getTime() <= now.getTime()) {
    bad('/end_at', 'is in the past: the schedule would never run');
  }
  const limit = input.limit === undefined ? (base?.limit ?? null) : input.limit;
  if (limit !== null && (!Number.isInteger(limit) || limit < 1 || limit > SCHEDULE_LIMITS.limit)) {
    bad('/limit', `expected a whole number from 1 to ${SCHEDULE_LIMITS.limit}, or null`);
  }
  const missed = input.missed ?? base?.missed ?? 'skip';
  if (!MISSED_POLICIES.includes(missed)) bad('/missed', `expected one of ${MISSED_POLICIES.join(', ')}`);
  const description = input.description ?? base?.description ?? '';
  if (description.length > SCHEDULE_LIMITS.description) {
    bad('/description', `is longer than ${SCHEDULE_LIMITS.description} characters`);
  } else {
    const t = textProblem(description);
    if (t) bad('/description', t);
  }
  const message = templateOf(input.message, base?.message ?? null, bad);
  const timingChanged =
    !base ||
    input.cron !== undefined ||
    input.every !== undefined ||
    input.timezone !== undefined ||
    input.start_at !== undefined ||
    input.end_at !== undefined;
  return {
    spec: { cron, every_ms: every, timezone, start_at, end_at, limit, missed, description, message },
    problems,
    timingChanged,
  };
}

function templateOf(
  input: MessageTemplateInput | undefined,
  base: MessageTemplate | null,
  bad: (path: string, message: string) => void,
): MessageTemplate {
  if (!input && !base) {
    bad('/message', 'a schedule needs the message it sends (content, recipient_phone_number)');
    return { content: '', recipient_phone_number: '', priority: 0, destination: null, topic: null };
  }
  const i = input ?? {};
  const content = i.content ?? base?.content;
  const phone = i.recipient_phone_number ?? base?.recipient_phone_number;
  const contentIssue = content === undefined ? 'content is required' : contentProblem(content);
  if (contentIssue) bad('/message/content', contentIssue);
  const phoneIssue = phone === undefined ? 'is required' : phoneProblem(phone);
  if (phoneIssue) bad('/message/recipient_phone_number', phoneIssue);
  const priority = i.priority ?? base?.priority ?? 0;
  if (!Number.isInteger(priority) || Math.abs(priority) > SCHEDULE_LIMITS.priority) {
    bad('/message/priority', 'expected a whole number from -1000 to 1000');
  }
  // naming one of destination and topic replaces the other
  let destination = base?.destination ?? null;
  let topic = base?.topic ?? null;
  if (i.destination !== undefined || i.topic !== undefined) {
    destination = i.destination ?? null;
    topic = i.topic ?? null;
  }
  if (destination !== null && topic !== null)
    bad('/message/topic', 'give a destination or a topic, not both');
  if (destination !== null && !DESTINATION_ID.test(destination)) {
    bad('/message/destination', `${JSON.stringify(destination)} is not a destination id`);
  }
  if (topic !== null && !TOPIC.test(topic)) bad('/message/topic', `${JSON.stringify(topic)} is not a topic`);
  return {
    content: content ?? '',
    recipient_phone_number: phone ?? '',
    priority,
    destination: destination === 'default' ? null : destination,
    topic,
  };
}

const iso = (d: Date | null): string | null => (d === null ? null : d.toISOString());

/** A schedule as the API answers it and the CLI prints it (`every` as the config writes durations). */
export function scheduleView(s: Schedule): Record<string, unknown> {
  return {
    id: s.id,
    cron: s.cron,
    every: s.every_ms === null ? null : formatDuration(s.every_ms),
    timezone: s.timezone,
    start_at: iso(s.start_at),
    end_at: iso(s.end_at),
    limit: s.limit,
    missed: s.missed,
    description: s.description,
    message: {
      content: s.message.content,
      recipient_phone_number: s.message.recipient_phone_number,
      priority: s.message.priority,
      destination: s.message.topic === null ? (s.message.destination ?? 'default') : null,
      topic: s.message.topic,
    },
    status: s.status,
    next_run_at: iso(s.next_run_at),
    last_run_at: iso(s.last_run_at),
    run_count: s.run_count,
    created_at: s.created_at.toISOString(),
    updated_at: s.updated_at.toISOString(),
    version: s.version,
  };
}
