import { phoneProblem, unicodeProblem } from '../domain/message.js';
import { MAX_DETAILS } from './error-handler.js';

export interface Problem {
  path: string;
  message: string;
}

/**
 * Every string (key or value) in a parsed JSON body that is not well-formed
 * Unicode, with its path (`body/messages/3/content`), the first MAX_DETAILS.
 */
export function illFormedStrings(value: unknown, path: string, out: Problem[] = []): Problem[] {
  if (out.length >= MAX_DETAILS) return out;
  if (typeof value === 'string') {
    const p = unicodeProblem(value);
    if (p) out.push({ path, message: p });
  } else if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) illFormedStrings(value[i], `${path}/${i}`, out);
  } else if (value !== null && typeof value === 'object') {
    for (const [k, v] of Object.entries(value)) {
      if (unicodeProblem(k))
        out.push({ path: `${path}/${k}`, message: 'field name is not well-formed Unicode' });
      illFormedStrings(v, `${path}/${k}`, out);
    }
  }
  return out;
}

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
