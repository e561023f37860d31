import { afterEach, beforeEach, describe } from 'node:test';
import type { MessageStore } from '../../src/store/store.js';
import type { StoreFactory } from '../helpers/services.js';

/**
 * A part of the storage contract on one backend: `body` declares its tests and reads the store of
 * the running test through `store()`; each test gets a fresh database (dropped after it), and the
 * whole part skips loudly when the backend is not configured (never in CI).
 */
export function contractSuite(
  name: string,
  factory: StoreFactory,
  body: (store: () => MessageStore) => void,
): void {
  describe(
    `${name}: ${factory.name}`,
    { skip: !factory.available && `${factory.name} not configured` },
    () => {
      let current: MessageStore | null = null;
      let drop: (() => Promise<void>) | null = null;
      beforeEach(async () => {
        ({ store: current, drop } = await factory.create());
      });
      afterEach(async () => {
        await drop?.();
        current = null;
      });
      body(() => {
        if (!current) throw new Error('the store is made for each test');
        return current;
      });
    },
  );
}
