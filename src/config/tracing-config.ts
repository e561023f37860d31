import { ConfigError } from './config-error.js';
import { envDefault, type ChoiceOf } from './keys.js';

type Env = Record<string, string | undefined>;

/**
 * Tracing is configured by the standard OpenTelemetry environment variables, read by the
 * SDK itself; this checks the ones whose mistake would otherwise only show as traces that
 * never arrive, so a bad value stops start-up naming the variable like any other key.
 */
export interface TracingConfig {
  /** where spans go (OTEL_EXPORTER_OTLP_TRACES_ENDPOINT, else OTEL_EXPORTER_OTLP_ENDPOINT) */
  endpoint: string;
  protocol: OtlpProtocol;
  serviceName: string;
  /** OTEL_TRACES_SAMPLER (default parentbased_always_on) and its ratio (OTEL_TRACES_SAMPLER_ARG, default 1) */
  sampler: TraceSampler;
  ratio: number;
  /**
   * How the worker pool's spans are exported (tracing.poolExporter): `encoder`, the hand-written
   * OTLP/protobuf encoder (http/protobuf only; the other protocols take the SDK), or `sdk`, the
   * SDK's batch span processor and exporter for every protocol.
   */
  poolExporter: PoolExporter;
}

export type PoolExporter = ChoiceOf<'tracing.poolExporter'>;

const PROTOCOLS = ['http/protobuf', 'http/json', 'grpc'] as const;
type OtlpProtocol = (typeof PROTOCOLS)[number];
const SAMPLERS = [
  'always_on',
  'always_off',
  'traceidratio',
  'parentbased_always_on',
  'parentbased_always_off',
  'parentbased_traceidratio',
] as const;
export type TraceSampler = (typeof SAMPLERS)[number];
const BOOLEAN = ['true', 'false', ''];

function bad(name: string, value: string, expected: string): never {
  throw new ConfigError(`config: ${name} = ${JSON.stringify(value)} is invalid: expected ${expected}`);
}

/** An endpoint that may carry credentials: its value is never shown, not even when it does not parse. */
function httpUrl(name: string, value: string): string {
  const refuse = (): never => {
    throw new ConfigError(
      `config: ${name} (value not shown: it may hold a password) is invalid: expected an http:// or https:// URL of an OTLP receiver`,
    );
  };
  let u: URL;
  try {
    u = new URL(value);
  } catch {
    return refuse();
  }
  if (u.protocol !== 'http:' && u.protocol !== 'https:') refuse();
  return value;
}

/** null: tracing off (no endpoint set, OTEL_SDK_DISABLED=true or OTEL_TRACES_EXPORTER=none). */
export function tracingConfig(env: Env, poolExporter: PoolExporter = 'encoder'): TracingConfig | null {
  const disabled = (env.OTEL_SDK_DISABLED ?? '').trim().toLowerCase();
  if (!BOOLEAN.includes(disabled)) bad('OTEL_SDK_DISABLED', env.OTEL_SDK_DISABLED ?? '', 'true or false');
  const exporter = (env.OTEL_TRACES_EXPORTER ?? '').trim();
  if (exporter !== '' && exporter !== 'otlp' && exporter !== 'none')
    bad('OTEL_TRACES_EXPORTER', exporter, 'otlp or none (OTLP is the only exporter this service ships)');
  const tracesEndpoint = env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT?.trim() ?? '';
  const endpoint = tracesEndpoint || env.OTEL_EXPORTER_OTLP_ENDPOINT?.trim() || '';
  const endpointName = tracesEndpoint ? 'OTEL_EXPORTER_OTLP_TRACES_ENDPOINT' : 'OTEL_EXPORTER_OTLP_ENDPOINT';
  if (disabled === 'true' || exporter === 'none' || endpoint === '') return null;
  httpUrl(endpointName, endpoint);
  const protocolName = env.OTEL_EXPORTER_OTLP_TRACES_PROTOCOL
    ? 'OTEL_EXPORTER_OTLP_TRACES_PROTOCOL'
    : 'OTEL_EXPORTER_OTLP_PROTOCOL';
  const protocol = (env[protocolName] ?? '').trim() || envDefault('OTEL_EXPORTER_OTLP_PROTOCOL');
  if (!(PROTOCOLS as readonly string[]).includes(protocol)) bad(protocolName, protocol, PROTOCOLS.join(', '));
  const sampler = (env.OTEL_TRACES_SAMPLER ?? '').trim() || envDefault('OTEL_TRACES_SAMPLER');
  if (!(SAMPLERS as readonly string[]).includes(sampler))
    bad('OTEL_TRACES_SAMPLER', sampler, SAMPLERS.join(', '));
  const arg = env.OTEL_TRACES_SAMPLER_ARG?.trim() ?? '';
  let ratio = 1;
  if (arg !== '' && sampler.endsWith('traceidratio')) {
    ratio = Number(arg);
    if (!Number.isFinite(ratio) || ratio < 0 || ratio > 1)
      bad('OTEL_TRACES_SAMPLER_ARG', arg, 'a ratio from 0 to 1');
  }
  return {
    endpoint,
    protocol: protocol as OtlpProtocol,
    serviceName: env.OTEL_SERVICE_NAME?.trim() || envDefault('OTEL_SERVICE_NAME'),
    sampler: sampler as TraceSampler,
    ratio,
    poolExporter,
  };
}
