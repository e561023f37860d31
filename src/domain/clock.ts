/**
 * Time, as the loops of the service read it and wait on it: injected, so tests run them on a
 * fake clock (test/helpers/fake-clock.ts) instead of waiting, and the real one everywhere else.
 */
export interface Clock {
  now(): number;
  /** runs `fn` once after `ms`; the handle is this clock's own */
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
}

export const systemClock: Clock = {
  now: () => Date.now(),
  setTimeout: (fn, ms) => setTimeout(fn, ms),
  clearTimeout: (handle) => clearTimeout(handle as NodeJS.Timeout),
};

/** The system's timers with another source of `now` (a test's settable time). */
export function clockWithNow(now: () => number): Clock {
  return { ...systemClock, now };
}

/** Resolves after `ms` on `clock`. */
export function sleepOn(clock: Clock, ms: number): Promise<void> {
  return new Promise((resolve) => clock.setTimeout(resolve, ms));
}

/** Waits for `p` at most `ms` on `clock`; leaves no timer behind. */
export async function within(clock: Clock, p: Promise<unknown>, ms: number): Promise<void> {
  let timer: unknown;
  await Promise.race([p, new Promise<void>((r) => (timer = clock.setTimeout(r, ms)))]);
  clock.clearTimeout(timer);
}
