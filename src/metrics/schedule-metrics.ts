import { Counter, Histogram, type Registry } from 'prom-client';
import type { SchedulerObserver } from '../schedules/scheduler.js';
import type { NoMessage } from '../schedules/occurrence-messages.js';

const PREFIX = 'message_scheduler_';

/**
 * The scheduler's figures, counted by the node whose step won (so the cluster's sum counts each
 * occurrence once). No label per schedule: their number is unbounded; a schedule's own figures are
 * in GET /schedules/{id} (run_count, last_run_at, next_run_at).
 */
export class ScheduleMetrics implements SchedulerObserver {
  private readonly occurrences: Counter<'outcome'>;
  private readonly lag: Histogram;

  constructor(registry: Registry) {
    const registers = [registry];
    this.occurrences = new Counter({
      name: `${PREFIX}schedule_occurrences_total`,
      help: "Schedules' occurrences moved past: made (a message, or a topic's fan-out), skipped (missed while no node ran, by the schedule's missed policy), no_destination / no_subscriber / too_many_subscribers (no message: nowhere to send it)",
      labelNames: ['outcome'],
      registers,
    });
    this.lag = new Histogram({
      name: `${PREFIX}schedule_lag_seconds`,
      help: "How late an occurrence's message was made after its send_at (0: made ahead, as planned; more: the scheduler was behind or the cluster was down)",
      buckets: [0, 0.01, 0.05, 0.1, 0.5, 1, 5, 30, 60, 300, 3600],
      registers,
    });
    for (const outcome of ['made', 'skipped', 'no_destination', 'no_subscriber', 'too_many_subscribers']) {
      this.occurrences.inc({ outcome }, 0);
    }
  }

  made(lagSeconds: number[]): void {
    this.occurrences.inc({ outcome: 'made' }, lagSeconds.length);
    for (const s of lagSeconds) this.lag.observe(s);
  }

  skipped(n: number): void {
    this.occurrences.inc({ outcome: 'skipped' }, n);
  }

  dropped(reason: NoMessage, n: number): void {
    this.occurrences.inc({ outcome: reason }, n);
  }
}
