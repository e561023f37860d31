/**
 * Text that no store keeps as it was written, the same rule on every store (docs/decisions.md,
 * "Text every store keeps"):
 *
 * - a lone UTF-16 surrogate (JSON's `"\ud800"` escape can carry one): UTF-8 cannot encode it, so
 *   SQLite and PostgreSQL would store something else (one or three U+FFFD);
 * - U+0000 (NUL): PostgreSQL refuses it in `text` (`invalid byte sequence for encoding "UTF8":
 *   0x00`), SQLite and MongoDB keep it; no message, phone number or key needs one.
 *
 * Text a client sends is refused with a 400 naming the field (textProblem); text the service
 * records about something outside (a receiver's reply, an error) is made storable (storableText).
 */
export function textProblem(text: string): string | null {
  if (!text.isWellFormed()) return 'is not well-formed Unicode (it holds a lone UTF-16 surrogate)';
  if (text.includes('\0')) return 'holds U+0000 (NUL), which is not accepted in any text';
  return null;
}

/** `text` with lone surrogates and NULs replaced by U+FFFD: what a store keeps unchanged. */
export function storableText(text: string): string {
  const t = text.isWellFormed() ? text : text.toWellFormed();
  return t.includes('\0') ? t.replaceAll('\0', '\uFFFD') : t;
}

/** storableText for a value that may be absent. */
export function storableOrNull(text: string | null): string | null {
  return text === null ? null : storableText(text);
}
