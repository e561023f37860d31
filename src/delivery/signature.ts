import { createHmac, timingSafeEqual } from 'node:crypto';

/**
 * Standard Webhooks signatures: base64 HMAC-SHA256 over `${id}.${timestamp}.${body}`
 * with the bytes of the base64 part of a `whsec_` secret, sent as `v1,<signature>`.
 */
export function secretBytes(secret: string): Buffer {
  return Buffer.from(secret.startsWith('whsec_') ? secret.slice('whsec_'.length) : secret, 'base64');
}

export function sign(key: Buffer, id: string, timestamp: number, body: string): string {
  return 'v1,' + createHmac('sha256', key).update(`${id}.${timestamp}.${body}`).digest('base64');
}

/** The `webhook-signature` value for one or more keys (a receiver rotating its secret checks either). */
export function signAll(keys: readonly Buffer[], id: string, timestamp: number, body: string): string {
  if (keys.length === 1 && keys[0]) return sign(keys[0], id, timestamp, body);
  return keys.map((k) => sign(k, id, timestamp, body)).join(' ');
}

/**
 * Verifies a `webhook-signature` header (space-separated list of `v1,<sig>`),
 * rejecting timestamps more than `toleranceSec` away from now.
 */
export function verify(
  key: Buffer,
  headers: { id: string | undefined; timestamp: string | undefined; signature: string | undefined },
  body: string,
  nowSec: number = Math.floor(Date.now() / 1000),
  toleranceSec = 300,
): boolean {
  const { id, timestamp, signature } = headers;
  if (!id || !timestamp || !signature || !/^\d+$/.test(timestamp)) return false;
  const ts = Number(timestamp);
  if (Math.abs(nowSec - ts) > toleranceSec) return false;
  const expected = Buffer.from(sign(key, id, ts, body));
  return signature.split(' ').some((candidate) => {
    const got = Buffer.from(candidate);
    return got.length === expected.length && timingSafeEqual(got, expected);
  });
}
