import { randomBytes } from 'node:crypto';

/**
 * ObjectId-shaped ids (24 hex characters: 4-byte seconds, 5 random bytes, a
 * 3-byte counter) for every store, so clients of the original see the same
 * id format whatever the backend, and ids sort by creation time.
 */
const processUnique = randomBytes(5).toString('hex');
let counter = randomBytes(3).readUIntBE(0, 3);

export function newId(now: number = Date.now()): string {
  counter = (counter + 1) % 0xffffff;
  const secs = Math.floor(now / 1000)
    .toString(16)
    .padStart(8, '0');
  return secs + processUnique + counter.toString(16).padStart(6, '0');
}

export const ID_PATTERN = /^[0-9a-f]{24}$/;

export function webhookIdFor(messageId: string): string {
  return `msg_${messageId}`;
}
