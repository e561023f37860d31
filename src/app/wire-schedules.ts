import type { Config } from '../config/config.js';
import type { Logger } from '../logging/logger.js';
import type { MessageStore } from '../store/store.js';
import type { Metrics } from '../metrics/metrics.js';
import type { DestinationRegistry } from '../destinations/registry.js';
import { ScheduleService } from '../schedules/schedule-service.js';
import { Scheduler } from '../schedules/scheduler.js';
import { ScheduleMetrics } from '../metrics/schedule-metrics.js';

/**
 * The schedules' rules (for the API) and, on a node that delivers (`all`, `worker`) with
 * schedules.enabled, the scheduler that makes their occurrences' messages (not started yet).
 */
export function createSchedules(
  config: Config,
  parts: {
    store: MessageStore;
    registry: DestinationRegistry;
    metrics: Metrics | null;
    /** messages were made: wake this node's pool and the others' */
    onCreated: () => void;
    logger: Logger;
  },
): { service: ScheduleService; scheduler: Scheduler | null } {
  const exists = async (id: string): Promise<boolean> => (await parts.registry.resolve(id)) !== null;
  const service = new ScheduleService({ store: parts.store, exists, onCreated: parts.onCreated });
  if (!config.schedules.enabled || config.role === 'api') return { service, scheduler: null };
  const scheduler = new Scheduler({
    store: parts.store,
    exists,
    intervalMs: config.schedules.intervalMs,
    lookaheadMs: config.schedules.lookaheadMs,
    missedAfterMs: config.schedules.missedAfterMs,
    catchUpMax: config.schedules.catchUpMax,
    logger: parts.logger,
    onCreated: parts.onCreated,
    ...(parts.metrics ? { observer: new ScheduleMetrics(parts.metrics.registry) } : {}),
  });
  return { service, scheduler };
}
