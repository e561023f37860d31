/**
 * What the API and the CLI do with destinations, in one place: check the input (spec-input.ts),
 * refuse what the URL-safety policy denies outright, keep the built-in `default` read-only, and
 * tell this node's registry at once. Errors carry a kind the API maps to its codes.
 */
import { randomBytes } from 'node:crypto';
import { DEFAULT_DESTINATION_ID, type Destination, type DestinationStatus } from '../domain/destination.js';
import type { AddressPolicy } from '../http/address-policy.js';
import type { DestinationStore } from '../store/destination-store.js';
import type { DestinationHealthStore } from '../store/destination-health-store.js';
import { deletedDestinationError, type MessageStore } from '../store/store.js';
import { StoreError } from '../store/store-errors.js';
import { LIMITS, specFromInput, type DestinationInput, type Problem } from './spec-input.js';

export type DestinationErrorKind = 'invalid' | 'url_denied' | 'not_found' | 'builtin' | 'exists' | 'stale';

export class DestinationError extends Error {
  override name = 'DestinationError';
  constructor(
    readonly kind: DestinationErrorKind,
    message: string,
    readonly problems: Problem[] = [],
  ) {
    super(message);
  }
}

export interface DestinationPage {
  items: Destination[];
  /** the last id of this page when there may be more */
  next: string | null;
}

export interface DestinationServiceOptions {
  store: DestinationStore;
  builtin: Destination;
  policy: Pick<AddressPolicy, 'deniedLiteral'>;
  /** a destination changed on this node (null: deleted) */
  onChange?: (id: string, d: Destination | null) => void;
  /** the messages: a deleted destination's waiting ones fail at once (no claim reads them again) */
  messages?: Pick<MessageStore, 'failUnsent'>;
  /** its circuit, forgotten with it */
  circuits?: Pick<DestinationHealthStore, 'deleteCircuit'>;
}

/** A generated id: `dst_` and 16 hex digits (a valid slug, never `default`). */
export function generatedId(): string {
  return `dst_${randomBytes(8).toString('hex')}`;
}

const invalid = (problems: Problem[]): DestinationError =>
  new DestinationError('invalid', problems.map((p) => `${p.path}: ${p.message}`).join('; '), problems);

export class DestinationService {
  constructor(private readonly o: DestinationServiceOptions) {}

  /** The URL's host is an address literal the deny list refuses: no request could ever go. */
  private checkUrl(url: string | undefined): void {
    if (url === undefined) return;
    const denied = this.o.policy.deniedLiteral(new URL(url));
    if (denied) {
      throw new DestinationError(
        'url_denied',
        `/url: ${denied.address} is a denied address (${denied.entry}; destinations.denyAddresses)`,
        [{ path: '/url', message: `${denied.address} is a denied address (${denied.entry})` }],
      );
    }
  }

  private builtinRefused(id: string, what: string): DestinationError {
    return new DestinationError(
      'builtin',
      `${id} is the built-in destination of the config (webhookClient.*, WEBHOOK_URL, retry.*): it cannot be ${what} over the API; change the config`,
    );
  }

  async create(input: DestinationInput, now: Date): Promise<Destination> {
    const { id, spec, problems } = specFromInput(input, 'create');
    if (problems.length > 0) throw invalid(problems);
    this.checkUrl(spec.url);
    const full = spec as Required<typeof spec>;
    try {
      const d = await this.o.store.createDestination(id ?? generatedId(), full, now);
      this.o.onChange?.(d.id, d);
      return d;
    } catch (err) {
      if (err instanceof StoreError && err.code === 'conflict') {
        throw new DestinationError('exists', `destination ${id ?? ''} already exists`);
      }
      throw err;
    }
  }

  async get(id: string): Promise<Destination> {
    if (id === DEFAULT_DESTINATION_ID) return this.o.builtin;
    const d = await this.o.store.getDestination(id);
    if (!d) throw new DestinationError('not_found', `no destination ${id}`);
    return d;
  }

  /** By id, after `after`; the built-in `default` in its place among them. */
  async list(q: { after?: string; limit: number; topic?: string }): Promise<DestinationPage> {
    const stored = await this.o.store.listDestinations({
      limit: q.limit + 1,
      ...(q.after !== undefined ? { after: q.after } : {}),
      ...(q.topic !== undefined ? { topic: q.topic } : {}),
    });
    // `default` subscribes to no topic; it is listed once, where its id sorts
    const withDefault =
      q.topic === undefined && (q.after === undefined || q.after < DEFAULT_DESTINATION_ID)
        ? [...stored, this.o.builtin].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0))
        : stored;
    const items = withDefault.slice(0, q.limit);
    const next = withDefault.length > q.limit ? (items[items.length - 1]?.id ?? null) : null;
    return { items, next };
  }

  async update(id: string, input: DestinationInput, now: Date, ifVersion?: number): Promise<Destination> {
    if (id === DEFAULT_DESTINATION_ID) throw this.builtinRefused(id, 'changed');
    const { spec, problems } = specFromInput(input, 'patch');
    if (problems.length > 0) throw invalid(problems);
    this.checkUrl(spec.url);
    const d = await this.o.store.updateDestination(id, spec, now, ifVersion);
    if (!d) {
      if (ifVersion !== undefined && (await this.o.store.getDestination(id))) {
        throw new DestinationError(
          'stale',
          `destination ${id} has changed since version ${ifVersion}: read it again`,
        );
      }
      throw new DestinationError('not_found', `no destination ${id}`);
    }
    this.o.onChange?.(id, d);
    return d;
  }

  /**
   * A new signing secret, made here and shown once (to the caller): it signs from now on beside
   * the current ones, which stop after `overlapMs` (or sooner, if they were to already), so the
   * receiver has that long to take the new one. Secrets already expired are dropped, and the ones
   * expiring soonest when the list is full. Changed on the version read (retried once if another
   * change came between).
   */
  async rotateSecret(
    id: string,
    overlapMs: number,
    now: Date,
  ): Promise<{ destination: Destination; secret: string }> {
    if (id === DEFAULT_DESTINATION_ID) throw this.builtinRefused(id, 'changed');
    const secret = `whsec_${randomBytes(24).toString('base64')}`;
    const until = new Date(now.getTime() + overlapMs);
    for (let attempt = 0; ; attempt++) {
      const d = await this.get(id);
      const kept = d.secrets
        .filter((s) => s.expires_at === null || s.expires_at.getTime() > now.getTime())
        .map((s) => ({
          secret: s.secret,
          expires_at: s.expires_at && s.expires_at.getTime() < until.getTime() ? s.expires_at : until,
        }))
        .sort((a, b) => b.expires_at.getTime() - a.expires_at.getTime())
        .slice(0, LIMITS.secrets - 1);
      const secrets = [{ secret, expires_at: null }, ...kept];
      const updated = await this.o.store.updateDestination(id, { secrets }, now, d.version);
      if (updated) {
        this.o.onChange?.(id, updated);
        return { destination: updated, secret };
      }
      if (attempt > 0) {
        throw new DestinationError(
          'stale',
          `destination ${id} kept changing while its secret was rotated: try again`,
        );
      }
    }
  }

  /** paused or active (resume also re-enables a disabled destination). */
  async setStatus(
    id: string,
    status: Exclude<DestinationStatus, 'disabled'>,
    now: Date,
  ): Promise<Destination> {
    if (id === DEFAULT_DESTINATION_ID) {
      throw this.builtinRefused(
        id,
        status === 'paused' ? 'paused (pause the worker pool instead)' : 'resumed',
      );
    }
    const d = await this.o.store.setDestinationStatus(id, status, null, now);
    if (!d) throw new DestinationError('not_found', `no destination ${id}`);
    this.o.onChange?.(id, d);
    return d;
  }

  async remove(id: string): Promise<void> {
    if (id === DEFAULT_DESTINATION_ID) throw this.builtinRefused(id, 'deleted');
    if (!(await this.o.store.deleteDestination(id))) {
      throw new DestinationError('not_found', `no destination ${id}`);
    }
    this.o.onChange?.(id, null);
    // its messages have no lane any more: they fail now, with the reason, rather than wait unread
    await this.o.messages?.failUnsent(id, deletedDestinationError(id), new Date());
    await this.o.circuits?.deleteCircuit(id);
  }
}
