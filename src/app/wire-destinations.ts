import type { Config } from '../config/config.js';
import type { Logger } from '../logging/logger.js';
import type { MessageStore } from '../store/store.js';
import { builtinDestination } from '../domain/destination.js';
import { AddressPolicy } from '../http/address-policy.js';
import { DestinationRegistry } from '../destinations/registry.js';
import { DestinationService } from '../destinations/destination-service.js';

/** This node's copy of the destinations (read now, then every destinations.refreshInterval) and their rules. */
export async function openDestinations(
  config: Config,
  store: MessageStore,
  logger: Logger,
): Promise<{ registry: DestinationRegistry; service: DestinationService }> {
  const builtin = builtinDestination(
    {
      url: config.webhook.url,
      timeoutMs: config.webhook.timeoutMs,
      signingSecrets: config.webhook.signingSecrets,
      retry: config.retry,
    },
    new Date(),
  );
  const registry = new DestinationRegistry({
    store: store.destinations,
    builtin,
    refreshMs: config.destinations.refreshMs,
    logger: logger.child({ component: 'destinations' }),
  });
  await registry.start();
  const service = new DestinationService({
    store: store.destinations,
    builtin,
    policy: new AddressPolicy(config.destinations.denyAddresses),
    onChange: (id, d) => registry.changed(id, d),
    messages: store,
  });
  return { registry, service };
}
