import type { Secrecy } from './key-spec.js';

/** A variable the service reads that is not a file key (EnvSpec), with its default and meaning. */
export interface EnvSpec {
  readonly env: string;
  /** '' : unset */
  readonly default: string;
  readonly secret?: Secrecy;
  readonly doc: string;
}

/**
 * Environment variables that are not file keys (the original's, the stores', OpenTelemetry's): every
 * other variable the service reads. A test reads src/ for the variables it reads and finds each one here or in
 * CONFIG_KEYS, and the table of docs/configuration.md is written from this list.
 */
export const ENV_ONLY = [
  {
    env: 'PORT',
    default: ':3000',
    doc: 'HTTP listen address as the original took it: `:3000` or `3000` (every interface, or `HOST`), `127.0.0.1:3000`, `[::1]:3000`. A host in `PORT` and a different `HOST` stop start-up.',
  },
  {
    env: 'HOST',
    default: '0.0.0.0',
    doc: 'HTTP listen address when `PORT` names none.',
  },
  {
    env: 'CONFIG_PATH',
    default: '.config',
    doc: 'Folder of the config file: absolute (`/etc/message-scheduler`, as containers mount it) or relative to the working directory.',
  },
  { env: 'CONFIG_ENV', default: 'dev', doc: 'Config file name without `.yaml`.' },
  {
    env: 'SQLITE_PATH',
    default: './data/messages.db',
    doc: 'SQLite file, used when neither `MONGODB_URI` nor `DATABASE_URL` is set.',
  },
  {
    env: 'DATABASE_URL',
    default: '',
    secret: 'url',
    doc: 'PostgreSQL URL; selects the PostgreSQL store.',
  },
  {
    env: 'DATABASE_SCHEMA',
    default: 'public',
    doc: 'PostgreSQL schema holding the tables (created when missing). Nodes share a cluster when they share the database and the schema.',
  },
  {
    env: 'MONGODB_URI',
    default: '',
    secret: 'url',
    doc: 'MongoDB URI; selects the MongoDB store (wins over `DATABASE_URL`).',
  },
  { env: 'MESSAGES_DB_NAME', default: 'messages', doc: 'MongoDB database.' },
  {
    env: 'MESSAGES_COLLECTION_NAME',
    default: 'messages',
    doc: 'MongoDB collection (and prefix of the helper collections).',
  },
  {
    env: 'REDIS_URI',
    default: '',
    secret: 'url',
    doc: 'Redis as `host:port` (as the original) or `redis://` URL; unset → no `messageId → sent_at` cache is written (the service itself never reads one).',
  },
  { env: 'REDIS_PASSWORD', default: '', secret: true, doc: 'Redis password (never logged).' },
  { env: 'REDIS_DB', default: '0', doc: 'Redis database number.' },
  {
    env: 'WEBHOOK_URL',
    default: '',
    secret: 'url',
    doc: 'Full webhook URL; overrides `webhookClient.host` + `webhookClient.path`.',
  },
  {
    env: 'OTEL_SDK_DISABLED',
    default: 'false',
    doc: '`true`: tracing off, whatever else is set.',
  },
  {
    env: 'OTEL_TRACES_EXPORTER',
    default: '',
    doc: '`otlp` or unset: export when an endpoint is set; `none`: tracing off.',
  },
  {
    env: 'OTEL_EXPORTER_OTLP_ENDPOINT',
    default: '',
    secret: 'url',
    doc: 'OTLP receiver (`http://collector:4318`); set: tracing on (docs/operations.md, "Traces").',
  },
  {
    env: 'OTEL_EXPORTER_OTLP_TRACES_ENDPOINT',
    default: '',
    secret: 'url',
    doc: 'OTLP receiver for traces only; wins over `OTEL_EXPORTER_OTLP_ENDPOINT`.',
  },
  {
    env: 'OTEL_EXPORTER_OTLP_PROTOCOL',
    default: 'http/protobuf',
    doc: '`http/protobuf`, `http/json` or `grpc`.',
  },
  {
    env: 'OTEL_EXPORTER_OTLP_TRACES_PROTOCOL',
    default: '',
    doc: 'The protocol for traces only; wins over `OTEL_EXPORTER_OTLP_PROTOCOL`.',
  },
  {
    env: 'OTEL_EXPORTER_OTLP_HEADERS',
    default: '',
    secret: 'headers',
    doc: 'Headers sent to the receiver, `key=value,...` (a token: never logged).',
  },
  {
    env: 'OTEL_EXPORTER_OTLP_TRACES_HEADERS',
    default: '',
    secret: 'headers',
    doc: 'Headers for traces only, as `OTEL_EXPORTER_OTLP_HEADERS`.',
  },
  {
    env: 'OTEL_SERVICE_NAME',
    default: 'message-scheduler',
    doc: 'The `service.name` of every span.',
  },
  {
    env: 'OTEL_TRACES_SAMPLER',
    default: 'parentbased_always_on',
    doc: '`always_on`, `always_off`, `traceidratio`, or their `parentbased_` forms: which traces are kept (the cost lever).',
  },
  {
    env: 'OTEL_TRACES_SAMPLER_ARG',
    default: '',
    doc: 'The ratio of `traceidratio` samplers, 0 to 1 (unset: 1).',
  },
  {
    env: 'OTEL_BSP_SCHEDULE_DELAY',
    default: '5000',
    doc: "Longest wait before a batch of spans is exported, in ms (the SDK's batch span processor).",
  },
  {
    env: 'OTEL_BSP_MAX_EXPORT_BATCH_SIZE',
    default: '512',
    doc: 'Most spans in one export.',
  },
  {
    env: 'OTEL_BSP_MAX_QUEUE_SIZE',
    default: '2048',
    doc: 'Most spans waiting for export; more are dropped and counted.',
  },
] as const satisfies readonly EnvSpec[];

export type EnvName = (typeof ENV_ONLY)[number]['env'];

/** The default of an environment-only variable, written once (above). */
export function envDefault(name: EnvName): string {
  return ENV_ONLY.find((e) => e.env === name)?.default ?? '';
}

/** `env[name]`, or its default when unset or empty. */
export function envOr(env: Record<string, string | undefined>, name: EnvName): string {
  return env[name] || envDefault(name);
}
