import type { KeySpec } from './key-spec.js';

/** The scheduler's keys (src/schedules/): how often it looks, how far ahead, what a missed occurrence is. */
export const SCHEDULE_KEYS = [
  {
    key: 'schedules.enabled',
    env: 'SCHEDULES_ENABLED',
    type: 'bool',
    default: true,
    doc: "Whether this node runs the scheduler, which makes the messages of the schedules' occurrences (on `all` and `worker` nodes). Every node may run it: each occurrence makes one message however many do (docs/schedules.md).",
  },
  {
    key: 'schedules.interval',
    env: 'SCHEDULES_INTERVAL',
    type: 'duration',
    default: '1s',
    min: 50,
    doc: "How often the scheduler reads the schedules due within `schedules.lookahead`. Must be shorter than the lookahead, so an occurrence's message exists before its instant.",
  },
  {
    key: 'schedules.lookahead',
    env: 'SCHEDULES_LOOKAHEAD',
    type: 'duration',
    default: '5s',
    min: 100,
    doc: "How far ahead the scheduler makes an occurrence's message (`send_at` = the occurrence): it is delivered on time as any scheduled message. A change to a schedule applies to occurrences after the messages already made.",
  },
  {
    key: 'schedules.missedAfter',
    env: 'SCHEDULES_MISSED_AFTER',
    type: 'duration',
    default: '1m',
    min: 1000,
    doc: "An occurrence whose message was not made by this long after its instant (no node ran: the cluster was down) is missed: its schedule's `missed` policy decides (`skip`, `once`, `all`). Later than this but not missed: made at once, late, and counted as schedule lag.",
  },
  {
    key: 'schedules.catchUpMax',
    env: 'SCHEDULES_CATCH_UP_MAX',
    type: 'int',
    default: 100,
    min: 1,
    doc: 'The most missed occurrences a schedule with `missed: all` makes messages for after downtime (the oldest first); the rest are skipped, counted and logged.',
  },
] as const satisfies readonly KeySpec[];
