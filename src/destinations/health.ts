/**
 * A destination's health as `GET /destinations/{id}` shows it: its circuit (the cluster's), the
 * rate it is sent at now (its own, or slowed down by 429/503 on this node), its messages in flight
 * and due on every node, its last success and failure, and its success ratio over the breaker's
 * window, read from the stored attempts of every node. A few index reads per request; nothing is
 * written per delivery to keep them.
 */
import type { Destination } from '../domain/destination.js';
import type { CircuitState, DestinationHealthStore } from '../store/destination-health-store.js';
import type { FlowControl } from './flow-control.js';
import { formatDuration } from '../config/duration.js';

export interface HealthView {
  circuit: CircuitState;
  circuit_opened_at: Date | null;
  /** open: a probe may go from then on; half-open: the probe's turn ends then */
  circuit_until: Date | null;
  /** the first failure since the last success (null: not failing) */
  failing_since: Date | null;
  /** requests per second it is sent at now (null: no bound of its own and not slowed down) */
  effective_rate: number | null;
  /** 429 or 503 answers slowed it down below its own rate (on the node that answers) */
  slowed_down: boolean;
  in_flight: number;
  due_backlog: number;
  last_success_at: Date | null;
  last_failure_at: Date | null;
  /** successes among the attempts of the window (null: none in it) */
  success_ratio: number | null;
  attempts_in_window: number;
  window_ms: number;
}

const iso = (d: Date | null): string | null => (d ? d.toISOString() : null);

/** A health view as JSON: times in RFC 3339, the window as the config writes durations (API and CLI). */
export function healthJson(h: HealthView): Record<string, string | number | boolean | null> {
  const { window_ms, ...rest } = h;
  return {
    ...rest,
    circuit_opened_at: iso(h.circuit_opened_at),
    circuit_until: iso(h.circuit_until),
    failing_since: iso(h.failing_since),
    last_success_at: iso(h.last_success_at),
    last_failure_at: iso(h.last_failure_at),
    window: formatDuration(window_ms),
  };
}

/** A health view on one line, for an operator's terminal. */
export function healthLine(h: HealthView): string {
  const parts = [`circuit ${h.circuit}${h.circuit_until ? ` until ${h.circuit_until.toISOString()}` : ''}`];
  if (h.failing_since) parts.push(`failing since ${h.failing_since.toISOString()}`);
  if (h.effective_rate !== null)
    parts.push(`rate ${Number(h.effective_rate.toFixed(3))}/s${h.slowed_down ? ' (slowed down)' : ''}`);
  parts.push(`in flight ${h.in_flight}`, `due ${h.due_backlog}`);
  const window = formatDuration(h.window_ms);
  parts.push(
    h.success_ratio === null
      ? `no attempts in ${window}`
      : `success ${Number(h.success_ratio.toFixed(3))} of ${h.attempts_in_window} in ${window}`,
  );
  if (h.last_success_at) parts.push(`last success ${h.last_success_at.toISOString()}`);
  if (h.last_failure_at) parts.push(`last failure ${h.last_failure_at.toISOString()}`);
  return parts.join('  ');
}

export class DestinationHealth {
  constructor(
    private readonly o: {
      store: DestinationHealthStore;
      /** this node's flow control (absent where no pool runs) */
      flow: FlowControl | null;
      windowMs: number;
      now: () => number;
    },
  ) {}

  async of(d: Destination): Promise<HealthView> {
    const now = this.o.now();
    const [c, stats, inFlight, backlog] = await Promise.all([
      this.o.store.getCircuit(d.id),
      this.o.store.attemptStats(d.id, new Date(now - this.o.windowMs)),
      this.o.store.inFlight(d.id),
      this.o.store.dueBacklog(d.id, new Date(now)),
    ]);
    const total = stats.successes + stats.failures;
    const own = d.rate_limit ? (d.rate_limit.limit * 1000) / d.rate_limit.period_ms : null;
    const effective = this.o.flow ? this.o.flow.effectiveRate(d) : own;
    return {
      circuit: c?.state ?? 'closed',
      circuit_opened_at: c?.opened_at ?? null,
      circuit_until: c?.until ?? null,
      failing_since: c?.failing_since ?? null,
      effective_rate: effective,
      slowed_down: (this.o.flow?.slow.perSecond(d.id, now) ?? null) !== null,
      in_flight: inFlight,
      due_backlog: backlog,
      last_success_at: stats.last_success_at,
      last_failure_at: stats.last_failure_at,
      success_ratio: total > 0 ? stats.successes / total : null,
      attempts_in_window: total,
      window_ms: this.o.windowMs,
    };
  }
}
