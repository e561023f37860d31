import { phoneProblem } from '../domain/message.js';
import { MAX_DETAILS } from './error-handler.js';
import type { Problem } from './json-body.js';

/** recipient_phone_number problems of new-message rows, named by path (one row, or each batch row). */
export function phoneProblems(rows: readonly unknown[], path: (i: number) => string): Problem[] {
  const out: Problem[] = [];
  rows.forEach((row, i) => {
    const phone = (row as { recipient_phone_number?: unknown } | null)?.recipient_phone_number;
    if (typeof phone !== 'string' || out.length >= MAX_DETAILS) return;
    const p = phoneProblem(phone);
    if (p) out.push({ path: `${path(i)}/recipient_phone_number`, message: p });
  });
  return out;
}
