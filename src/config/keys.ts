/**
 * Every setting of the file config (`${CONFIG_PATH}/${CONFIG_ENV}.yaml`), with its type, default
 * and environment-variable override, in one typed table: the loader, the validation, the redaction
 * of secrets and the table of docs/configuration.md are all driven by it. The table is kept in parts by concern
 * (keys-delivery.ts, keys-api.ts); the variables that are not file keys are in env-only.ts.
 */
import type { KeySpec, KeyType } from './key-spec.js';
import { DELIVERY_KEYS } from './keys-delivery.js';
import { API_KEYS } from './keys-api.js';
import { SCHEDULE_KEYS } from './keys-schedules.js';

export type { KeySpec, KeyType, Secrecy } from './key-spec.js';
export { ENV_ONLY, envDefault, envOr, type EnvName, type EnvSpec } from './env-only.js';

const LOG_KEYS = [
  {
    key: 'log.level',
    env: 'LOG_LEVEL',
    type: 'level',
    default: 'info',
    doc: 'pino level: fatal, error, warn, info, debug, trace, silent. `debug` logs what happened to each message.',
  },
] as const satisfies readonly KeySpec[];

/** Tracing is configured by the standard OTEL_* variables (env-only.ts); this is the service's own choice. */
const TRACING_KEYS = [
  {
    key: 'tracing.poolExporter',
    env: 'TRACING_POOL_EXPORTER',
    type: 'choice',
    choices: ['encoder', 'sdk'],
    default: 'encoder',
    doc: "How the worker pool's spans (a CLIENT span per delivery attempt, one per claim round) are exported when tracing is on. `encoder`: OTLP/protobuf written by the service's own encoder from the shared span records, sent by the SDK's HTTP export delegate (http/protobuf only; http/json and grpc always take the SDK). `sdk`: the OpenTelemetry SDK's batch span processor and exporter for every protocol. The same spans either way; docs/decisions.md, \"Traces\", gives what the encoder saves.",
  },
] as const satisfies readonly KeySpec[];

export const CONFIG_KEYS = [
  ...DELIVERY_KEYS,
  ...API_KEYS,
  ...SCHEDULE_KEYS,
  ...LOG_KEYS,
  ...TRACING_KEYS,
] as const satisfies readonly KeySpec[];

export type ConfigKey = (typeof CONFIG_KEYS)[number]['key'];

type Spec = (typeof CONFIG_KEYS)[number];
/** The file keys of one type: a lookup of a key that does not exist, or of another type, does not compile. */
type KeyOfType<T extends KeyType> = Extract<Spec, { type: T }>['key'];
export type NumberKey = KeyOfType<'duration' | 'int' | 'number'>;
export type BoolKey = KeyOfType<'bool'>;
export type StringKey = KeyOfType<'string' | 'url' | 'level'>;
export type ListKey = KeyOfType<'list'>;
export type ChoiceKey = KeyOfType<'choice'>;
/** The values a `choice` key allows, as a union of its literals. */
export type ChoiceOf<K extends ChoiceKey> =
  Extract<Spec, { key: K }> extends { choices: readonly (infer C)[] } ? C : never;

/** Typed reads of the loaded values (src/config/config.ts builds them once, for every part of the config). */
export interface Lookups {
  num(key: NumberKey): number;
  bool(key: BoolKey): boolean;
  str(key: StringKey): string;
  list(key: ListKey): string[];
  choice<K extends ChoiceKey>(key: K): ChoiceOf<K>;
}
