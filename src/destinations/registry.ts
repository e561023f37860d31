/**
 * Every node's copy of the destinations: read whole from the store at start and every
 * `destinations.refreshInterval`, and at once after a change made on this node. The worker pool
 * looks destinations up here (no store round trip per message); a destination it does not know yet
 * (made on another node since the last read) is read from the store.
 */
import { DEFAULT_DESTINATION_ID, type Destination } from '../domain/destination.js';
import type { Logger } from '../logging/logger.js';
import type { DestinationStore } from '../store/destination-store.js';

const PAGE = 500;

export interface RegistryOptions {
  store: DestinationStore;
  /** the built-in `default` (the config's webhook) */
  builtin: Destination;
  refreshMs: number;
  logger: Logger;
  /** read with the destinations each time (their circuits) */
  alsoLoad?: () => Promise<void>;
}

export class DestinationRegistry {
  private byId = new Map<string, Destination>();
  /** the destinations whose messages are delivered now, in id order (the claim's lanes) */
  private live: Destination[] = [];
  private timer: NodeJS.Timeout | null = null;
  private refreshing: Promise<void> | null = null;
  private readonly listeners: Array<(id: string) => void> = [];

  constructor(private readonly o: RegistryOptions) {}

  get builtin(): Destination {
    return this.o.builtin;
  }

  /** Reads them all now, then every refreshMs. */
  async start(): Promise<void> {
    await this.refresh();
    this.timer = setInterval(() => {
      this.refresh().catch((err: unknown) =>
        this.o.logger.warn({ err }, 'could not read the destinations; keeping the last copy'),
      );
    }, this.o.refreshMs);
    this.timer.unref();
  }

  close(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
  }

  /** Reads every destination again (one read at a time: a second call joins the first). */
  refresh(): Promise<void> {
    this.refreshing ??= this.load().finally(() => {
      this.refreshing = null;
    });
    return this.refreshing;
  }

  private async load(): Promise<void> {
    const next = new Map<string, Destination>();
    await this.o.alsoLoad?.();
    let after: string | undefined;
    for (;;) {
      const page = await this.o.store.listDestinations({ limit: PAGE, ...(after ? { after } : {}) });
      for (const d of page) next.set(d.id, d);
      if (page.length < PAGE) break;
      after = page[page.length - 1]?.id;
    }
    this.byId = next;
    this.sort();
  }

  private sort(): void {
    this.live = [...this.byId.values()]
      .filter((d) => d.status === 'active')
      .sort((a, b) => (a.id < b.id ? -1 : 1));
  }

  /** Called after each change made on this node (the app tells the other nodes). */
  onLocalChange(listener: (id: string) => void): void {
    this.listeners.push(listener);
  }

  /** A change made on this node: seen here at once (null: deleted), and told to the listeners. */
  changed(id: string, d: Destination | null): void {
    this.apply(id, d);
    for (const l of this.listeners) l(id);
  }

  /** Something else of destination `id` changed on this node (its circuit): told to the listeners. */
  announce(id: string): void {
    for (const l of this.listeners) l(id);
  }

  private apply(id: string, d: Destination | null): void {
    if (d) this.byId.set(id, d);
    else this.byId.delete(id);
    this.sort();
  }

  /** The destination a message names (null: `default`), as last read; undefined when not known here. */
  get(id: string | null): Destination | undefined {
    if (id === null || id === DEFAULT_DESTINATION_ID) return this.o.builtin;
    return this.byId.get(id);
  }

  /** As get(), reading the store when it is not known here yet; null when it does not exist. */
  async resolve(id: string | null): Promise<Destination | null> {
    const known = this.get(id);
    if (known) return known;
    const d = await this.o.store.getDestination(id ?? DEFAULT_DESTINATION_ID);
    if (d) this.apply(d.id, d);
    return d;
  }

  /** The destinations whose messages are delivered now (active), in id order. */
  active(): readonly Destination[] {
    return this.live;
  }

  /** Every destination known here, whatever its status. */
  all(): Destination[] {
    return [...this.byId.values()];
  }

  /** How many are known (metrics, tests). */
  get size(): number {
    return this.byId.size;
  }
}
