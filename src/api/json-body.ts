import { isUtf8 } from 'node:buffer';
import type { FastifyInstance } from 'fastify';
import { AppError } from '../errors/codes.js';
import { textProblem } from '../domain/text.js';
import { MAX_DETAILS } from './error-handler.js';
import fp from 'fastify-plugin';

/** A problem found in a request, named by its place (`body/messages/3/content`). */
export interface Problem {
  path: string;
  message: string;
}

/**
 * How deep a JSON body may nest. The API's bodies nest three levels (`{"messages": [{...}]}`);
 * anything deeper is refused before any code walks it (docs/decisions.md, "JSON bodies").
 */
export const MAX_JSON_DEPTH = 32;

/** The charset a Content-Type names, lower case; null when it names none. */
export function charsetOf(contentType: string): string | null {
  const m = /;\s*charset\s*=\s*(?:"([^"]*)"|([^;\s]*))/i.exec(contentType);
  if (!m) return null;
  return (m[1] ?? m[2] ?? '').trim().toLowerCase();
}

const UTF8_NAMES = new Set(['utf-8', 'utf8']);

/** What a body is: every problem with its strings (the first MAX_DETAILS), or the place it nests too deep. */
export interface BodyCheck {
  problems: Problem[];
  /** the path where MAX_JSON_DEPTH is passed (cut to a readable length), or null */
  tooDeep: string | null;
}

/**
 * Every string (key or value) of a parsed JSON value that no store keeps as written
 * (domain/text.ts), and whether it nests deeper than `maxDepth`. Iterative: a value of any
 * depth costs no stack (a recursive walk threw RangeError at 8,000 levels).
 */
export function checkJsonValue(value: unknown, root = 'body', maxDepth = MAX_JSON_DEPTH): BodyCheck {
  const problems: Problem[] = [];
  const stack: Array<{ v: unknown; path: string; depth: number }> = [{ v: value, path: root, depth: 0 }];
  while (stack.length > 0) {
    const { v, path, depth } = stack.pop() as { v: unknown; path: string; depth: number };
    if (typeof v === 'string') {
      const p = textProblem(v);
      if (p && problems.length < MAX_DETAILS) problems.push({ path, message: `${path} ${p}` });
      continue;
    }
    if (v === null || typeof v !== 'object') continue;
    if (depth >= maxDepth) {
      return { problems, tooDeep: path.length > 120 ? `${path.slice(0, 120)}…` : path };
    }
    // pushed in reverse, so problems come out in document order
    if (Array.isArray(v)) {
      for (let i = v.length - 1; i >= 0; i--) stack.push({ v: v[i], path: `${path}/${i}`, depth: depth + 1 });
      continue;
    }
    const entries = Object.entries(v as Record<string, unknown>);
    for (let i = entries.length - 1; i >= 0; i--) {
      const [k, child] = entries[i] as [string, unknown];
      stack.push({ v: child, path: `${path}/${k}`, depth: depth + 1 });
    }
    for (const [k] of entries) {
      const p = textProblem(k);
      if (p && problems.length < MAX_DETAILS) {
        // the name escaped, so the answer carries none of what it names
        const where = `${path}/${JSON.stringify(k).slice(1, -1)}`;
        problems.push({ path: where, message: `the field name ${where} ${p}` });
      }
    }
  }
  return { problems, tooDeep: null };
}

/**
 * Where the bytes that are not UTF-8 sit: decoded leniently, they become U+FFFD, and the first
 * string holding one is named. (A body that also holds a real U+FFFD may name that string
 * instead; the answer is a 400 either way.)
 */
function invalidUtf8Place(body: Buffer): string {
  let parsed: unknown;
  try {
    parsed = JSON.parse(body.toString('utf8'));
  } catch {
    return 'body';
  }
  const stack: Array<{ v: unknown; path: string; depth: number }> = [{ v: parsed, path: 'body', depth: 0 }];
  while (stack.length > 0) {
    const { v, path, depth } = stack.pop() as { v: unknown; path: string; depth: number };
    if (typeof v === 'string') {
      if (v.includes('\uFFFD')) return path;
    } else if (v !== null && typeof v === 'object' && depth < MAX_JSON_DEPTH) {
      const entries = Array.isArray(v)
        ? v.map((x, i) => [String(i), x] as const)
        : Object.entries(v as Record<string, unknown>);
      for (let i = entries.length - 1; i >= 0; i--) {
        const [k, child] = entries[i] as readonly [string, unknown];
        if (k.includes('\uFFFD')) return `${path}/${k}`;
        stack.push({ v: child, path: `${path}/${k}`, depth: depth + 1 });
      }
    }
  }
  return 'body';
}

/**
 * The API's JSON parser: Fastify's (prototype-poisoning checks kept), behind three checks a
 * careless or hostile client needs (docs/decisions.md, "JSON bodies"):
 *
 * - the body is UTF-8 (RFC 8259 §8.1): another declared charset is 415, bytes that are not UTF-8
 *   are 400 naming the field, never decoded into U+FFFD and stored changed;
 * - it nests at most MAX_JSON_DEPTH levels (400), so nothing recursive ever meets a deep body;
 * - every string is text every store keeps (400 naming each field).
 *
 * An operation without a body accepts an empty one sent with `Content-Type: application/json`:
 * many clients send that header on every request.
 */
export function installJsonBody(app: FastifyInstance): void {
  const json = app.getDefaultJsonParser('error', 'error');
  app.removeContentTypeParser('application/json');
  app.addContentTypeParser('application/json', { parseAs: 'buffer' }, (req, raw, done) => {
    const body = raw as Buffer;
    const charset = charsetOf(req.headers['content-type'] ?? '');
    if (charset !== null && !UTF8_NAMES.has(charset)) {
      done(
        new AppError(
          'UNSUPPORTED_MEDIA_TYPE',
          `charset ${JSON.stringify(charset)} is not accepted: JSON bodies are UTF-8 (RFC 8259); send charset=utf-8 or none`,
        ),
        undefined,
      );
      return;
    }
    if (body.length === 0 && !req.routeOptions.schema?.body) {
      done(null, undefined);
      return;
    }
    if (!isUtf8(body)) {
      const path = invalidUtf8Place(body);
      const message = `${path} is not valid UTF-8 (bytes that no UTF-8 text holds, such as 0xFF or an encoded surrogate): send the text as UTF-8`;
      done(new AppError('BAD_REQUEST', message, [{ path, message }]), undefined);
      return;
    }
    json(req, body.toString('utf8'), (err, parsed) => {
      if (err) {
        done(err, undefined);
        return;
      }
      const { problems, tooDeep } = checkJsonValue(parsed);
      if (tooDeep !== null) {
        const message = `the body nests deeper than ${MAX_JSON_DEPTH} levels (at ${tooDeep})`;
        done(new AppError('BAD_REQUEST', message, [{ path: 'body', message }]), undefined);
        return;
      }
      const first = problems[0];
      if (first) {
        done(new AppError('BAD_REQUEST', first.message, problems), undefined);
        return;
      }
      done(null, parsed);
    });
  });
}

/** The JSON body parser as a plugin of the root instance. */
export const jsonBodies = fp(async (app) => installJsonBody(app), {
  name: 'json-bodies',
  fastify: '5.x',
  dependencies: ['error-handling'],
});
