import type { BodyEscaping } from '../config/config.js';
/**
 * The bytes of a webhook body. `JSON.stringify` and Go's `encoding/json`
 * (the original's client) write the same JSON for every text but five
 * characters: Go escapes `&`, `<`, `>` (HTML safety) and U+2028, U+2029
 * (JavaScript line terminators) as `\u0026`, `\u003c`, `\u003e`, `\u2028`,
 * `\u2029`. Both are the same JSON value; a receiver that hashes or compares
 * bodies sees different bytes. `go` writes the original's bytes (the default,
 * so a takeover changes nothing a receiver can see); `plain` writes them as
 * `JSON.stringify` does.
 */
export type { BodyEscaping };

const GO_ESCAPED = /[&<>\u2028\u2029]/g;
const GO_ESCAPES: Record<string, string> = {
  '&': '\\u0026',
  '<': '\\u003c',
  '>': '\\u003e',
  '\u2028': '\\u2028',
  '\u2029': '\\u2029',
};
const goEscape = (c: string): string => GO_ESCAPES[c] ?? c;

/** `{"to", "content"}`, the original's field order, escaped as `escaping` says. */
export function webhookBody(to: string, content: string, escaping: BodyEscaping): string {
  const json = JSON.stringify({ to, content });
  // the characters appear only inside strings: outside them JSON has none of the five
  return escaping === 'go' ? json.replace(GO_ESCAPED, goEscape) : json;
}
