/**
 * Where a claimed message goes: its destination, as this node's registry knows it, turned into
 * what the deliverer needs (URL, headers, the secrets that sign now, timeout) and the retry policy
 * that decides its outcome. Messages of the built-in `default` (no destination of their own) keep
 * the path they always had: no target, the configured webhook and retry.*.
 */
import type { Destination } from '../domain/destination.js';
import { publicUrl } from '../domain/destination.js';
import type { DeliveryTarget } from '../delivery/webhook-client.js';
import type { RetryPolicy } from '../delivery/retry-policy.js';
import type { DestinationRegistry } from '../destinations/registry.js';
import { deletedDestinationError, type ClaimedMessage } from '../store/store.js';

export type Route =
  | {
      kind: 'deliver';
      /** absent: the configured webhook */
      target: DeliveryTarget | undefined;
      retry: RetryPolicy;
      /** no retry after this long since the message was created (null: no bound) */
      maxAgeMs: number | null;
      /** the URL the attempt records (no credentials) */
      url: string | null;
    }
  /** not sent now, not an attempt: the destination is paused or disabled (the claim raced the change) */
  | { kind: 'hold'; reason: string }
  /** not sent, ever: the destination was deleted */
  | { kind: 'gone'; reason: string };

interface Built {
  target: DeliveryTarget;
  /** a secret expires then: the target is built again */
  validUntil: number;
  url: string;
  retry: RetryPolicy | null;
}

export class Routing {
  /** a destination object's target, built once per version the registry holds */
  private readonly built = new WeakMap<Destination, Built>();
  private readonly defaultRoute: Route;

  constructor(
    private readonly registry: DestinationRegistry | undefined,
    private readonly retry: RetryPolicy,
    /** its circuit keeps this node from sending to destination `id` now (circuit-breaker.ts) */
    private readonly blocked: (id: string, now: number) => boolean = () => false,
  ) {
    const url = registry ? publicUrl(registry.builtin.url) : null;
    this.defaultRoute = { kind: 'deliver', target: undefined, retry, maxAgeMs: null, url };
  }

  /** The route of `message` now; async only when its destination is not known on this node yet. */
  route(message: ClaimedMessage, now: number): Route | Promise<Route> {
    const id = message.destination_id;
    if (id === null || !this.registry) return this.defaultRoute;
    const known = this.registry.get(id);
    if (known) return this.of(known, now);
    return this.registry.resolve(id).then(
      (d): Route =>
        d
          ? this.of(d, now)
          : {
              kind: 'gone',
              reason: deletedDestinationError(id),
            },
      // the store did not answer: put back, not attempted; the next claim tries again
      (): Route => ({ kind: 'hold', reason: `not sent: destination ${id} could not be read from the store` }),
    );
  }

  private of(d: Destination, now: number): Route {
    if (d.id === this.registry?.builtin.id) return this.defaultRoute;
    if (d.status !== 'active')
      return { kind: 'hold', reason: `not sent: destination ${d.id} is ${d.status}` };
    // claimed before its circuit opened: put back, not attempted
    if (this.blocked(d.id, now))
      return { kind: 'hold', reason: `not sent: the circuit of destination ${d.id} is open` };
    let b = this.built.get(d);
    if (!b || now >= b.validUntil) {
      b = this.build(d, now);
      this.built.set(d, b);
    }
    return {
      kind: 'deliver',
      target: b.target,
      retry: b.retry ?? this.retry,
      maxAgeMs: d.retry?.max_age_ms ?? null,
      url: b.url,
    };
  }

  private build(d: Destination, now: number): Built {
    let validUntil = Infinity;
    const secrets: string[] = [];
    for (const s of d.secrets) {
      const exp = s.expires_at?.getTime() ?? Infinity;
      if (exp <= now) continue;
      secrets.push(s.secret);
      validUntil = Math.min(validUntil, exp);
    }
    const timeoutMs = d.timeout_ms ?? this.registry?.builtin.timeout_ms ?? 10_000;
    return {
      target: { url: d.url, headers: d.headers, secrets, timeoutMs },
      validUntil,
      url: publicUrl(d.url),
      retry: d.retry
        ? {
            maxAttempts: d.retry.max_attempts,
            baseDelayMs: d.retry.base_delay_ms,
            maxDelayMs: d.retry.max_delay_ms,
          }
        : null,
    };
  }
}
