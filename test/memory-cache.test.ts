import assert from 'node:assert/strict';
import { test } from 'node:test';
import { MemoryCache } from '../src/cache/cache.js';

test('the in-memory cache evicts the oldest write first, keeps re-written keys, and expires by TTL', async () => {
  let clock = 0;
  const cache = new MemoryCache(3, () => clock);
  for (const k of ['a', 'b', 'c', 'd']) await cache.set(k, `v-${k}`, 1000);
  assert.equal(await cache.get('a'), null, 'a, the oldest, made room for d');
  assert.equal(await cache.get('b'), 'v-b');

  // writing b again makes it the newest: the next eviction takes c
  await cache.set('b', 'v-b2', 1000);
  await cache.set('e', 'v-e', 1000);
  assert.equal(await cache.get('c'), null);
  assert.deepEqual(await Promise.all(['b', 'd', 'e'].map((k) => cache.get(k))), ['v-b2', 'v-d', 'v-e']);

  clock = 1000;
  assert.equal(await cache.get('d'), null, 'expired at its TTL');

  // emptied (close), then filled again: eviction starts over from the oldest
  await cache.close();
  for (const k of ['p', 'q', 'r', 's']) await cache.set(k, k, 1000);
  assert.equal(await cache.get('p'), null);
  assert.equal(await cache.get('s'), 's');
});

test('the in-memory cache keeps the newest maxEntries over many evictions', async () => {
  const cache = new MemoryCache(1000);
  for (let i = 0; i < 20_000; i++) await cache.set(`k${i}`, String(i), 60_000);
  assert.equal(await cache.get('k18999'), null);
  assert.equal(await cache.get('k19000'), '19000');
  assert.equal(await cache.get('k19999'), '19999');
});
