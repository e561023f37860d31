import type { MessageStore } from '../store/store.js';
import type { Metrics } from './metrics.js';

/** Store calls that are not timed: start-up and shutdown. */
const UNTIMED = new Set<PropertyKey>(['init', 'close', 'constructor']);

/**
 * The store with every call timed into `store_operation_duration_seconds`
 * (the method name is the label: a bounded set), and the leases that
 * `recoverExpired` / `recoverOwners` return counted as recoveries. The pool,
 * the cluster node and the API use it as they would the store itself.
 */
export function timedStore<S extends MessageStore>(store: S, metrics: Metrics): S {
  const wrapped = new Map<PropertyKey, unknown>();
  return new Proxy(store, {
    get(target, prop) {
      const value: unknown = Reflect.get(target, prop, target);
      if (typeof value !== 'function') return value;
      const known = wrapped.get(prop);
      if (known) return known;
      const fn = value as (...args: unknown[]) => unknown;
      const name = String(prop);
      const out = UNTIMED.has(prop)
        ? fn.bind(target)
        : (...args: unknown[]): unknown => {
            const t0 = performance.now();
            const result = fn.apply(target, args);
            if (!(result instanceof Promise)) return result;
            return result.then(
              (r: unknown) => {
                metrics.storeOperation(name, (performance.now() - t0) / 1000);
                if (typeof r === 'number') {
                  if (name === 'recoverExpired') metrics.recovered('expired', r);
                  else if (name === 'recoverOwners') metrics.recovered('dead_node', r);
                }
                return r;
              },
              (err: unknown) => {
                metrics.storeOperation(name, (performance.now() - t0) / 1000);
                throw err;
              },
            );
          };
      wrapped.set(prop, out);
      return out;
    },
  });
}
