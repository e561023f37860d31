/**
 * The scheduler: every schedules.interval, the active schedules due within schedules.lookahead
 * (one index range, whatever their number), each planned (plan.ts), its occurrences' messages
 * made (send_at = the occurrence, idempotency key = the schedule and the occurrence), then the
 * schedule moved on by a compare-and-set. Messages first, then the step: a node that dies between
 * the two leaves the step to another, which makes the same messages again (stored once, by their
 * keys) and moves it on. Two nodes that race make the same messages, and one step wins.
 *
 * `pass(now)` is one round with the time given: the tests drive it with a fake clock; `start()`
 * runs it on a timer.
 */
import type { Logger } from '../logging/logger.js';
import type { MessageStore } from '../store/store.js';
import type { Schedule } from '../domain/schedule.js';
import { occurrenceKey } from '../domain/schedule.js';
import { planRuns, type Plan, type PlanSettings } from './plan.js';
import type { NewMessage } from '../domain/message.js';
import {
  noMessageText,
  occurrenceMessages,
  recipientsOf,
  type DestinationExists,
  type NoMessage,
} from './occurrence-messages.js';

/** What the scheduler reports, for metrics (schedule-metrics.ts); never by schedule (unbounded). */
export interface SchedulerObserver {
  /** occurrences whose message was made, each with how late (0 when made ahead, as planned) */
  made(lagSeconds: number[]): void;
  /** missed occurrences skipped (the `missed` policy) */
  skipped(n: number): void;
  /** occurrences that made no message: their destination is gone, their topic has no subscriber */
  dropped(reason: NoMessage, n: number): void;
}

export interface SchedulerOptions extends PlanSettings {
  store: Pick<MessageStore, 'create' | 'schedules' | 'destinations'>;
  exists: DestinationExists;
  intervalMs: number;
  logger: Logger;
  /** messages were made: wake the worker pools */
  onCreated: () => void;
  observer?: SchedulerObserver;
  now?: () => number;
}

export interface PassResult {
  schedules: number;
  /** messages stored by this node (a fan-out: one per subscriber) */
  created: number;
  /** occurrences this node moved schedules past: made, skipped, dropped */
  made: number;
  skipped: number;
  dropped: number;
  /** steps another node (or a user's change) took first */
  lost: number;
}

/** One schedule's plan, and the messages of its occurrences. */
interface Prepared {
  s: Schedule;
  plan: Plan;
  dropped: NoMessage | null;
  rows: NewMessage[];
}

/** Messages stored in one transaction at most (a PostgreSQL statement's parameters stay bounded). */
const CREATE_CHUNK = 1000;

/** Due schedules read at once; a full batch is followed by another at once. */
export const DUE_BATCH = 200;
/** Batches in one pass at most: a pass ends, and the next interval goes on. */
const BATCHES_PER_PASS = 50;

export class Scheduler {
  private timer: NodeJS.Timeout | null = null;
  private running: Promise<unknown> | null = null;
  private stopped = false;
  private readonly log: Logger;
  private readonly now: () => number;

  constructor(private readonly o: SchedulerOptions) {
    this.log = o.logger.child({ component: 'scheduler' });
    this.now = o.now ?? Date.now;
  }

  start(): void {
    this.stopped = false;
    const loop = (): void => {
      if (this.stopped) return;
      this.running = this.pass(new Date(this.now()))
        .catch((err: unknown) =>
          this.log.warn({ err }, 'scheduler pass failed; the next interval tries again'),
        )
        .finally(() => {
          this.running = null;
          if (!this.stopped) this.timer = setTimeout(loop, this.o.intervalMs);
        });
    };
    loop();
  }

  /** Stops the timer and waits for a pass in progress. */
  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    await this.running;
  }

  /** One round at `now`: every due schedule (batches of DUE_BATCH) planned, made, moved on. */
  async pass(now: Date): Promise<PassResult> {
    const total: PassResult = { schedules: 0, created: 0, made: 0, skipped: 0, dropped: 0, lost: 0 };
    const before = new Date(now.getTime() + this.o.lookaheadMs);
    // where each destination or topic's messages go, read once a pass (not once per schedule)
    const targets = new Map<string, ReturnType<typeof recipientsOf>>();
    for (let batch = 0; batch < BATCHES_PER_PASS; batch++) {
      const due = await this.o.store.schedules.dueSchedules(before, DUE_BATCH);
      // nodes take the batch in different orders: they race on fewer schedules at once
      for (let i = due.length - 1; i > 0; i--) {
        const j = Math.floor(Math.random() * (i + 1));
        [due[i], due[j]] = [due[j] as Schedule, due[i] as Schedule];
      }
      const prepared = [];
      for (const sch of due) prepared.push(await this.prepare(sch, now, targets));
      // every message of the batch first, in transactions of up to CREATE_CHUNK rows (not one per
      // schedule), then each schedule's step: a step never precedes its messages
      // in key order: two nodes storing the same occurrences take their unique-index locks in the
      // same order (their batches are shuffled), so they wait for each other instead of deadlocking
      const rows = prepared
        .flatMap((p) => p.rows)
        .sort((a, b) => ((a.idempotency_key ?? '') < (b.idempotency_key ?? '') ? -1 : 1));
      for (let i = 0; i < rows.length; i += CREATE_CHUNK) {
        const results = await this.o.store.create(rows.slice(i, i + CREATE_CHUNK), now);
        total.created += results.filter((r) => r.created).length;
      }
      let moved = 0;
      for (const p of prepared) {
        const r = await this.advance(p, now);
        total.schedules++;
        total.made += r.made;
        total.skipped += r.skipped;
        total.dropped += r.dropped;
        total.lost += r.lost;
        if (!r.lost) moved++;
        // an embedded store (SQLite) works synchronously: the deliveries' timers and sockets run
        // between two schedules, not after the whole batch
        await new Promise((resolve) => setImmediate(resolve));
      }
      // a short batch was the last; a batch of which nothing moved (others took it) is done too
      if (due.length < DUE_BATCH || moved === 0) break;
    }
    if (total.created > 0) this.o.onCreated();
    return total;
  }

  /** The plan of `s` and the messages of its occurrences (none when they have nowhere to go). */
  private async prepare(
    s: Schedule,
    now: Date,
    targets: Map<string, ReturnType<typeof recipientsOf>>,
  ): Promise<Prepared> {
    const plan = planRuns(s, now, this.o);
    if (plan.runs.length === 0) return { s, plan, dropped: null, rows: [] };
    const key = s.message.topic !== null ? `topic:${s.message.topic}` : `to:${s.message.destination ?? ''}`;
    let target = targets.get(key);
    if (!target) {
      target = recipientsOf(s, { destinations: this.o.store.destinations, exists: this.o.exists });
      targets.set(key, target);
    }
    const to = await target;
    if ('none' in to) return { s, plan, dropped: to.none, rows: [] };
    const rows = plan.runs.flatMap((r) =>
      occurrenceMessages(s, to, occurrenceKey(s.id, r.instant), r.sendAt),
    );
    return { s, plan, dropped: null, rows };
  }

  /** Moves `s` on past its plan (its messages are stored); what this node counts when its step won. */
  private async advance(p: Prepared, now: Date): Promise<Omit<PassResult, 'schedules' | 'created'>> {
    const { s, plan, dropped } = p;
    const out = { made: 0, skipped: 0, dropped: 0, lost: 0 };
    if (s.next_run_at === null) return out;
    const won = await this.o.store.schedules.advanceSchedule(
      s.id,
      { next_run_at: s.next_run_at, version: s.version },
      dropped ? { ...plan.step, runs: 0, lastRunAt: null } : plan.step,
      now,
    );
    if (!won) {
      out.lost = 1;
      return out;
    }
    out.skipped = plan.skipped;
    if (dropped) out.dropped = plan.runs.length;
    else out.made = plan.runs.length;
    this.report(s, plan.runs, out, dropped, plan.step.next, now);
    return out;
  }

  private report(
    s: Schedule,
    runs: { instant: Date; sendAt: Date }[],
    out: { made: number; skipped: number; dropped: number },
    dropped: NoMessage | null,
    next: Date | null,
    now: Date,
  ): void {
    const obs = this.o.observer;
    if (out.made > 0) {
      obs?.made(runs.map((r) => Math.max(0, now.getTime() - r.sendAt.getTime()) / 1000));
      // not even the strings when debug is off: every occurrence passes here
      if (this.log.isLevelEnabled('debug')) {
        for (const r of runs) {
          this.log.debug(
            { schedule: s.id, occurrence: r.instant.toISOString(), send_at: r.sendAt.toISOString() },
            'schedule occurrence made',
          );
        }
      }
    }
    if (out.skipped > 0) {
      obs?.skipped(out.skipped);
      this.log.warn(
        { schedule: s.id, skipped: out.skipped, missed: s.missed, from: s.next_run_at?.toISOString() },
        'schedule occurrences missed while no node ran them; skipped by its missed policy',
      );
    }
    if (dropped) {
      obs?.dropped(dropped, out.dropped);
      this.log.warn(
        {
          schedule: s.id,
          reason: dropped,
          occurrences: out.dropped,
          destination: s.message.destination,
          topic: s.message.topic,
        },
        `schedule occurrence made no message: ${noMessageText(dropped, s)}`,
      );
    }
    if (next === null) this.log.info({ schedule: s.id, run_count: s.run_count + out.made }, 'schedule ended');
  }
}
