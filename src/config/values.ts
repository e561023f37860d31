/** A file key's value from the YAML file, the environment or its default, checked against its spec. */
import type { KeySpec } from './keys.js';
import { parseDuration } from './duration.js';
import { ConfigError } from './config-error.js';

const LEVELS: readonly string[] = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'];

type Raw = Record<string, unknown>;

export function flatten(
  obj: unknown,
  prefix = '',
  out: Map<string, unknown> = new Map(),
): Map<string, unknown> {
  if (obj !== null && typeof obj === 'object' && !Array.isArray(obj)) {
    for (const [k, v] of Object.entries(obj as Raw)) {
      const path = prefix ? `${prefix}.${k}` : k;
      if (v !== null && typeof v === 'object' && !Array.isArray(v)) flatten(v, path, out);
      else out.set(path, v);
    }
  }
  return out;
}

/**
 * The one line a bad setting stops start-up with. A setting that can hold a secret (marked
 * `secret`, or any URL: a password may sit in it) never shows its value: a value that failed to
 * parse cannot be redacted reliably (a password holding `#`, `/`, `?`, `"` or `@` defeats any
 * pattern), so it is not shown at all.
 */
function fail(spec: KeySpec, source: string, value: unknown, expected: string): never {
  const hidden = spec.secret === true || spec.type === 'url';
  const shown = hidden ? '(value not shown: it may hold a secret)' : (JSON.stringify(value) ?? String(value));
  throw new ConfigError(`config: ${spec.key} (${source}) = ${shown} is invalid: expected ${expected}`);
}

export type Value = string | number | boolean | string[];

export function coerce(spec: KeySpec, value: unknown, source: string): Value {
  const range = (n: number, what: string): number => {
    if (spec.min !== undefined && n < spec.min) fail(spec, source, value, `${what} >= ${spec.min}`);
    if (spec.max !== undefined && n > spec.max) fail(spec, source, value, `${what} <= ${spec.max}`);
    return n;
  };
  switch (spec.type) {
    case 'duration': {
      if (typeof value === 'number' && Number.isFinite(value) && value >= 0) {
        // a bare number in YAML is taken as milliseconds
        return range(value, 'a duration');
      }
      const ms = typeof value === 'string' ? parseDuration(value) : null;
      if (ms === null) fail(spec, source, value, 'a duration such as 100ms, 30s, 2m or 24h');
      const minText = spec.min !== undefined ? ` of at least ${spec.min}ms` : '';
      if (spec.min !== undefined && ms < spec.min) fail(spec, source, value, `a duration${minText}`);
      return ms;
    }
    case 'int':
    case 'number': {
      const n =
        typeof value === 'number'
          ? value
          : typeof value === 'string' && value.trim() !== ''
            ? Number(value)
            : NaN;
      if (!Number.isFinite(n) || (spec.type === 'int' && !Number.isInteger(n))) {
        fail(spec, source, value, spec.type === 'int' ? 'a whole number' : 'a number');
      }
      return range(n, 'a number');
    }
    case 'bool': {
      if (typeof value === 'boolean') return value;
      const t = String(value).trim().toLowerCase();
      if (['true', '1', 'yes', 'on'].includes(t)) return true;
      if (['false', '0', 'no', 'off'].includes(t)) return false;
      return fail(spec, source, value, 'true or false');
    }
    case 'url': {
      const t = String(value);
      if (t === '' && spec.optional) return '';
      try {
        const u = new URL(t);
        if (u.protocol !== 'http:' && u.protocol !== 'https:') throw new Error('protocol');
      } catch {
        fail(spec, source, value, 'an http:// or https:// URL');
      }
      return t.replace(/\/+$/, '');
    }
    case 'level': {
      const t = String(value).trim().toLowerCase();
      if (!LEVELS.includes(t)) fail(spec, source, value, `one of ${LEVELS.join(', ')}`);
      return t;
    }
    case 'string':
      if (typeof value !== 'string' && typeof value !== 'number') fail(spec, source, value, 'a string');
      return String(value);
    case 'choice': {
      const t = String(value).trim().toLowerCase();
      const choices = spec.choices ?? [];
      if (!choices.includes(t)) fail(spec, source, value, `one of ${choices.join(', ')}`);
      return t;
    }
    case 'list': {
      let items: string[];
      if (Array.isArray(value)) {
        if (!value.every((v) => typeof v === 'string' || typeof v === 'number'))
          fail(spec, source, value, 'a list of strings');
        items = value.map((v) => String(v).trim()).filter((v) => v !== '');
      } else if (typeof value === 'string') {
        items = value.split(/\s+/).filter((v) => v !== '');
      } else return fail(spec, source, value, 'a list, or a string of space-separated items');
      const choices = spec.choices;
      if (choices) {
        const bad = items.find((v) => !choices.includes(v));
        if (bad !== undefined) fail(spec, source, value, `items from ${choices.join(', ')} (not ${bad})`);
      }
      return items;
    }
  }
}

export function pick(values: Map<string, Value>, key: string): Value {
  const v = values.get(key);
  if (v === undefined) throw new Error(`config key ${key} has no value`);
  return v;
}
