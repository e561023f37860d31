import type { Config } from '../config/config.js';
import type { Logger } from '../logging/logger.js';
import type { MessageStore } from '../store/store.js';
import { builtinDestination } from '../domain/destination.js';
import { AddressPolicy } from '../http/address-policy.js';
import { DestinationRegistry } from '../destinations/registry.js';
import { DestinationService } from '../destinations/destination-service.js';
import { CircuitBreakers, type BreakerEvent } from '../destinations/circuit-breaker.js';
import { OperationalEvents, breakerEventOf } from '../events/operational-events.js';

/**
 * This node's copy of the destinations and their circuits (read now, then every
 * destinations.refreshInterval, and at once on a change pushed from another node), their rules,
 * and their breakers.
 */
export async function openDestinations(
  config: Config,
  store: MessageStore,
  logger: Logger,
  nodeId: string,
): Promise<{
  registry: DestinationRegistry;
  service: DestinationService;
  breakers: CircuitBreakers;
  /** the operational events (events.destination or events.topic; null: none) */
  events: OperationalEvents | null;
}> {
  const builtin = builtinDestination(
    {
      url: config.webhook.url,
      timeoutMs: config.webhook.timeoutMs,
      signingSecrets: config.webhook.signingSecrets,
      retry: config.retry,
    },
    new Date(),
  );
  const log = logger.child({ component: 'destinations' });
  // the registry is made after the breakers, and the breakers reach it only through these
  let registry: DestinationRegistry | null = null;
  const events = config.events
    ? new OperationalEvents({
        target: config.events,
        store,
        destinations: () => registry?.all() ?? [],
        logger: logger.child({ component: 'events' }),
      })
    : null;
  const breakers = new CircuitBreakers({
    store: store.health,
    destinations: store.destinations,
    settings: config.destinations.breaker,
    disableAfterMs: config.destinations.disableAfterMs,
    owner: nodeId,
    now: Date.now,
    logger: log,
    onCircuitChange: (id) => registry?.announce(id),
    onDisabled: (d) => registry?.changed(d.id, d),
    ...(events ? { onEvent: (e: BreakerEvent) => events.emit(breakerEventOf(e)) } : {}),
  });
  registry = new DestinationRegistry({
    store: store.destinations,
    builtin,
    refreshMs: config.destinations.refreshMs,
    logger: log,
    alsoLoad: () => breakers.load(),
  });
  await registry.start();
  const service = new DestinationService({
    store: store.destinations,
    builtin,
    policy: new AddressPolicy(config.destinations.denyAddresses),
    onChange: (id, d) => {
      if (!d) breakers.forget(id);
      registry?.changed(id, d);
    },
    messages: store,
    circuits: store.health,
  });
  return { registry, service, breakers, events };
}
