/**
 * Operational events: webhooks the service sends about itself (docs/decisions.md, "Operational
 * events"), through the same durable engine as any message: each event is a message to the
 * configured events destination (`events.destination`), or one per subscriber of the events topic
 * (`events.topic`), with its own retries, breaker and limits. Each carries an idempotency key made
 * of the event and what it is about, so an event decided on two nodes (or twice on one) is stored
 * once. Events are thin, as messages are (160 characters of content): the type, the id of what it
 * is about and the time; the receiver reads the rest from the API.
 */
import type { Logger } from '../logging/logger.js';
import type { MessageStore } from '../store/store.js';
import type { NewMessage } from '../domain/message.js';
import type { Destination } from '../domain/destination.js';
import { newGroupId } from '../destinations/fan-out.js';
import type { BreakerEvent } from '../destinations/circuit-breaker.js';
import type { OutcomeEvent } from '../worker/events.js';

export type OperationalEventType =
  | 'message.failed'
  | 'message.unknown'
  | 'destination.circuit_opened'
  | 'destination.circuit_closed'
  | 'destination.disabled';

export interface OperationalEvent {
  type: OperationalEventType;
  /** `message` or `destination`: what it is about */
  about: { message: string } | { destination: string };
  at: Date;
  /** what makes this occurrence one (with the type and subject): an opening's time, a disable's */
  occurrence?: string;
}

/** Where events go: a destination, or every destination subscribed to a topic. */
export type EventsTarget = { destination: string } | { topic: string };

export interface EventsOptions {
  target: EventsTarget;
  store: Pick<MessageStore, 'create'>;
  /** the destinations this node knows (a topic's subscribers are read here: no store read per event) */
  destinations: () => readonly Destination[];
  logger: Logger;
}

/** The event as the receiver gets it: the message's content, compact JSON. */
export function eventContent(e: OperationalEvent): string {
  return JSON.stringify({ type: e.type, ...e.about, at: e.at.toISOString() });
}

/** The key that makes an occurrence one: `event:<type>:<subject>[:<occurrence>]`. */
export function eventKey(e: OperationalEvent): string {
  const subject = 'message' in e.about ? e.about.message : e.about.destination;
  return `event:${e.type}:${subject}${e.occurrence ? `:${e.occurrence}` : ''}`;
}

export class OperationalEvents {
  constructor(private readonly o: EventsOptions) {}

  /**
   * True for a message of a receiver of the events (the events destination, or a subscriber of the
   * events topic): its failure raises no event, so a broken receiver of events makes no loop.
   */
  isEventMessage(m: { destination_id: string | null }): boolean {
    const t = this.o.target;
    const id = m.destination_id;
    if (id === null) return false;
    if ('destination' in t) return id === t.destination;
    return this.o.destinations().some((d) => d.id === id && d.topics.includes(t.topic));
  }

  /** A stored outcome: a message that failed (retries used up, or refused) or became unknown raises its event. */
  outcome(e: OutcomeEvent): void {
    if (!e.applied || this.isEventMessage(e.message)) return;
    const kind = e.outcome.kind;
    if (kind !== 'failed' && kind !== 'unknown') return;
    this.emit({ type: `message.${kind}`, about: { message: e.message.id }, at: new Date() });
  }

  /** Stores the event's messages; a store error is logged (the event is lost, the service goes on). */
  emit(e: OperationalEvent): void {
    this.store(e).catch((err: unknown) =>
      this.o.logger.warn({ err, event: e.type }, 'could not store an operational event'),
    );
  }

  /** As emit(), awaited: how many messages were stored (0: none subscribed, or stored before). */
  async store(e: OperationalEvent): Promise<number> {
    const t = this.o.target;
    const recipients =
      'topic' in t
        ? this.o
            .destinations()
            .filter((d) => d.status !== 'disabled' && d.topics.includes(t.topic))
            .map((d) => d.id)
        : [t.destination];
    if (recipients.length === 0) {
      this.o.logger.debug({ event: e.type }, 'operational event: no destination subscribed');
      return 0;
    }
    const key = eventKey(e);
    const content = eventContent(e);
    const group = 'topic' in t ? newGroupId() : null;
    const messages: NewMessage[] = recipients.map((id) => ({
      content,
      recipient_phone_number: '',
      idempotency_key: group ? `${key}:${id}` : key,
      destination_id: id,
      group_id: group,
      topic: 'topic' in t ? t.topic : null,
    }));
    const created = (await this.o.store.create(messages, e.at)).filter((r) => r.created).length;
    this.o.logger.debug({ event: e.type, key, created }, 'operational event stored');
    return created;
  }
}

/** A breaker's event as an operational event: one per opening, closing, disabling (its time makes it one). */
export function breakerEventOf(e: BreakerEvent): OperationalEvent {
  return { type: e.type, about: { destination: e.destination }, at: e.at, occurrence: e.at.toISOString() };
}
