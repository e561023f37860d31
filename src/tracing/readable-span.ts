/**
 * Span records as the OpenTelemetry SDK's exporters take spans (ReadableSpan): the SDK export path
 * of the pool's spans (export-sdk.ts), and the reference the hand-written encoder is tested against.
 */
import { SpanKind, SpanStatusCode, TraceFlags, type Attributes, type HrTime } from '@opentelemetry/api';
import type { Resource } from '@opentelemetry/resources';
import type { ReadableSpan } from '@opentelemetry/sdk-trace-base';
import type { SpanRow } from './span-records.js';
import { DEFAULT_DESTINATION_ID } from '../domain/destination.js';

/** The attributes every attempt to `webhookUrl` carries: no credentials or query string (they can hold a receiver's token). */
export function urlAttributes(webhookUrl: string): Attributes {
  const u = new URL(webhookUrl);
  return {
    'http.request.method': 'POST',
    'server.address': u.hostname,
    'server.port': Number(u.port || (u.protocol === 'https:' ? 443 : 80)),
    'url.full': `${u.origin}${u.pathname}`,
  };
}

/** Whole microseconds as HrTime. */
const hr = (us: number): HrTime => {
  const s = Math.floor(us / 1e6);
  return [s, (us - s * 1e6) * 1000];
};

/** A row as the SDK's exporters take a span: the same span AttemptEncoder writes. */
export function toReadableSpan(
  r: SpanRow,
  resource: Resource,
  scope: { name: string; version: string },
  shared: Attributes,
): ReadableSpan {
  const origin = { resource, instrumentationScope: scope };
  if (r.kind === 'round')
    return finishedSpan(r, 'claim round', SpanKind.INTERNAL, origin, {
      attributes: { 'message_scheduler.claimed': r.claimed, 'message_scheduler.outcomes_stored': r.stored },
      status: { code: SpanStatusCode.UNSET },
    });
  const attributes: Attributes = {
    ...(r.destination ? urlAttributes(r.url) : shared),
    'message_scheduler.destination': r.destination || DEFAULT_DESTINATION_ID,
    'message_scheduler.attempt': r.attempt,
    'message_scheduler.webhook.id': r.webhookId,
    'message_scheduler.outcome': r.outcome,
  };
  if (r.statusCode >= 0) attributes['http.response.status_code'] = r.statusCode;
  if (r.errorType) attributes['error.type'] = r.errorType;
  return finishedSpan(r, 'POST', SpanKind.CLIENT, origin, {
    attributes,
    status: r.errorType
      ? { code: SpanStatusCode.ERROR, message: r.errorMessage }
      : { code: SpanStatusCode.UNSET },
    ...(r.parentSpanId
      ? {
          parentSpanContext: {
            traceId: r.traceId,
            spanId: r.parentSpanId,
            traceFlags: TraceFlags.SAMPLED,
            isRemote: true,
          },
        }
      : {}),
  });
}

/** An ended, sampled span of a row's ids and times, without events or links. */
function finishedSpan(
  r: { traceId: string; spanId: string; startUs: number; endUs: number },
  name: string,
  kind: SpanKind,
  origin: Pick<ReadableSpan, 'resource' | 'instrumentationScope'>,
  rest: Pick<ReadableSpan, 'attributes' | 'status' | 'parentSpanContext'>,
): ReadableSpan {
  const context = { traceId: r.traceId, spanId: r.spanId, traceFlags: TraceFlags.SAMPLED };
  return {
    name,
    kind,
    spanContext: () => context,
    startTime: hr(r.startUs),
    endTime: hr(r.endUs),
    duration: hr(r.endUs - r.startUs),
    links: [],
    events: [],
    ended: true,
    droppedAttributesCount: 0,
    droppedEventsCount: 0,
    droppedLinksCount: 0,
    ...origin,
    ...rest,
  };
}
