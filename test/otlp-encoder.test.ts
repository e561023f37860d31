/**
 * The export thread's encoder writes, for a delivery attempt or a claim round, the bytes the
 * SDK's own OTLP serializer writes for the same span: compared byte for byte, over every shape
 * a row can have and a resource with every attribute type.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { readFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { encoderSender } from '../src/tracing/export-encoder.js';
import { ProtobufTraceSerializer } from '@opentelemetry/otlp-transformer';
import { resourceFromAttributes } from '@opentelemetry/resources';
import {
  BlockPool,
  readRows,
  rowBound,
  takeBlocks,
  writeRow,
  type SpanRow,
} from '../src/tracing/span-records.js';
import { AttemptEncoder } from '../src/tracing/attempt-encoder.js';
import { toReadableSpan, urlAttributes } from '../src/tracing/readable-span.js';

const scope = { name: 'message-scheduler', version: '1.2.3' };
const resourceAttributes = {
  'service.name': 'message-scheduler',
  'process.pid': 4242,
  'process.command_args': ['/usr/bin/node', 'main.js', 'serve'],
  'host.name': 'ñode-1',
  'x.ratio': 0.25,
  'x.negative': -7,
  'x.flag': true,
  'x.big': 2 ** 40 + 3,
};
const shared = urlAttributes('https://user:secret@receiver.example:8443/hooks/in?token=abc');

const rows: SpanRow[] = [
  // delivered, child of a stored request span
  {
    kind: 'attempt',
    traceId: '4bf92f3577b34da6a3ce929d0e0e4736',
    spanId: '00f067aa0ba902b7',
    parentSpanId: 'a3ce929d0e0e4736',
    startUs: 1_796_145_660_001_234,
    endUs: 1_796_145_660_004_321,
    attempt: 1,
    webhookId: 'msg_6b0f01fbac4d342d3f1a7761',
    statusCode: 202,
    outcome: 'sent',
    errorType: '',
    errorMessage: '',
    destination: '',
    url: '',
  },
  // delivered to a destination other than `default`: its id and URL replace the configured webhook's
  {
    kind: 'attempt',
    traceId: '5bf92f3577b34da6a3ce929d0e0e4736',
    spanId: '10f067aa0ba902b7',
    parentSpanId: '',
    startUs: 1_796_145_660_001_234,
    endUs: 1_796_145_660_009_999,
    attempt: 2,
    webhookId: 'msg_6b0f01fbac4d342d3f1a7762',
    statusCode: 500,
    outcome: 'retry',
    errorType: '500',
    errorMessage: 'HTTP 500',
    destination: 'billing-eu',
    url: 'http://billing.example:8080/hooks/ünï',
  },
  // a retryable answer, no parent (a message created without a trace)
  {
    kind: 'attempt',
    traceId: 'ffffffffffffffffffffffffffffffff',
    spanId: '0000000000000001',
    parentSpanId: '',
    startUs: 1_000_000,
    endUs: 1_000_001,
    attempt: 300,
    webhookId: 'msg_x',
    statusCode: 503,
    outcome: 'retry',
    errorType: '503',
    errorMessage: 'HTTP 503: “über-busy” ✓ {"message":"slow down"}',
    destination: '',
    url: '',
  },
  // no answer at all
  {
    kind: 'attempt',
    traceId: '0123456789abcdef0123456789abcdef',
    spanId: 'fedcba9876543210',
    parentSpanId: '1111111111111111',
    startUs: 1_796_145_660_000_000,
    endUs: 1_796_145_690_000_000,
    attempt: 5,
    webhookId: 'msg_y',
    statusCode: -1,
    outcome: 'failed',
    errorType: 'timeout',
    errorMessage: 'timeout: no complete answer within 30000 ms ' + 'x'.repeat(150),
    destination: '',
    url: '',
  },
  // a claim round: a root span with its counts
  {
    kind: 'round',
    traceId: 'abcdefabcdefabcdefabcdefabcdef01',
    spanId: '1234567812345678',
    startUs: 1_796_145_660_000_500,
    endUs: 1_796_145_660_002_750,
    claimed: 100,
    stored: 2 ** 20,
  },
  // one that only stored outcomes
  {
    kind: 'round',
    traceId: '00000000000000000000000000000002',
    spanId: '0000000000000003',
    startUs: 2_000_000,
    endUs: 2_000_000,
    claimed: 0,
    stored: 1,
  },
];

test('attempt and round spans are encoded byte for byte as the SDK serializer encodes them', () => {
  const resource = resourceFromAttributes(resourceAttributes);
  const encoder = new AttemptEncoder(resource.attributes, scope, shared);
  for (const batch of [rows.slice(0, 1), rows.slice(1, 2), rows.slice(2), rows.slice(3, 4), rows, []]) {
    const ours = Buffer.from(encoder.encode(batch));
    const sdk = ProtobufTraceSerializer.serializeRequest(
      batch.map((r) => toReadableSpan(r, resource, scope, shared)),
    );
    assert.ok(sdk);
    if (batch.length === 0) continue; // the SDK writes nothing for no spans; we never send an empty batch
    assert.equal(ours.toString('hex'), Buffer.from(sdk).toString('hex'), `batch of ${batch.length}`);
  }
  // a batch cut in the middle of a block goes on where it stopped
  const b = Buffer.alloc(4096);
  let length = 0;
  for (const r of rows) length = writeRow(b, length, r);
  const next = encoder.append(b, 0, length, 1);
  assert.equal(encoder.pending, 1);
  const first = Buffer.from(encoder.take());
  assert.equal(encoder.append(b, next, length, 10), length);
  const rest = Buffer.from(encoder.take());
  assert.equal(first.toString('hex'), Buffer.from(encoder.encode(rows.slice(0, 1))).toString('hex'));
  assert.equal(rest.toString('hex'), Buffer.from(encoder.encode(rows.slice(1))).toString('hex'));
  // no credentials or query string in url.full
  assert.equal(shared['url.full'], 'https://receiver.example:8443/hooks/in');
  assert.equal(shared['server.port'], 8443);
  // a destination's attempt carries its id and its own URL; the others say `default`
  const spans = rows.map((r) =>
    toReadableSpan(r, resourceFromAttributes({}), { name: 't', version: '1' }, shared),
  );
  assert.equal(spans[1]?.attributes['message_scheduler.destination'], 'billing-eu');
  assert.equal(spans[1]?.attributes['url.full'], 'http://billing.example:8080/hooks/%C3%BCn%C3%AF');
  assert.equal(spans[1]?.attributes['server.address'], 'billing.example');
  assert.equal(spans[0]?.attributes['message_scheduler.destination'], 'default');
  assert.equal(spans[0]?.attributes['url.full'], 'https://receiver.example:8443/hooks/in');
});

test('attempt and round records survive the shared block: every row shape, non-ASCII text, one block after another', () => {
  const pool = new BlockPool(1024, 2);
  const views = pool.buffers.map((sab) => Buffer.from(sab));
  const written: SpanRow[] = [];
  // more records than two blocks hold: the third reservation finds no free block and drops
  for (let i = 0; i < 30; i++) {
    const r = rows[i % rows.length] as SpanRow;
    const b = pool.reserve(rowBound(r));
    if (!b) continue;
    pool.pos = writeRow(b, pool.pos, r);
    written.push(r);
  }
  assert.ok(
    Atomics.load(pool.lengths, 0) > 0 && Atomics.load(pool.lengths, 1) > 0,
    'both blocks handed over',
  );
  assert.ok(pool.dropped > 0, 'no free block: dropped, not blocked');
  const read: SpanRow[] = [];
  assert.equal(
    takeBlocks(views, pool.lengths, (b, length) => read.push(...readRows(b, length))),
    2,
  );
  assert.deepEqual(read, written, 'every record written, in order, block 0 then block 1');
  assert.ok(read.length >= 8);
  assert.deepEqual([...pool.lengths], [0, 0], 'read blocks are given back');
  assert.equal(
    takeBlocks(views, pool.lengths, () => assert.fail('nothing handed over')),
    0,
  );
  // given back, blocks are written again, in turn; an empty block is not handed over
  assert.ok(pool.reserve(10));
  pool.pos = 0;
  pool.flush();
  assert.deepEqual([...pool.lengths], [0, 0]);
  const r = rows[0] as SpanRow;
  const b = pool.reserve(rowBound(r));
  assert.ok(b);
  pool.pos = writeRow(b, pool.pos, r);
  pool.flush();
  const again: SpanRow[] = [];
  takeBlocks(views, pool.lengths, (x, length) => again.push(...readRows(x, length)));
  assert.deepEqual(again, [r]);
});

test("the encoder's sender: the exporter package's experimental functions are there, and its request reaches a receiver as encoded", async (ctx) => {
  // the 0.x building blocks export-encoder.ts relies on, at the exact versions package.json pins
  const nodeHttp = await import('@opentelemetry/otlp-exporter-base/node-http');
  assert.equal(typeof nodeHttp.createOtlpHttpExportDelegate, 'function');
  assert.equal(typeof nodeHttp.convertLegacyHttpOptions, 'function');
  const pkg = JSON.parse(readFileSync('package.json', 'utf8')) as { dependencies: Record<string, string> };
  for (const name of ['@opentelemetry/otlp-exporter-base', '@opentelemetry/otlp-transformer']) {
    assert.match(pkg.dependencies[name] ?? '', /^\d+\.\d+\.\d+$/, `${name} is pinned to one version`);
  }
  const bodies: Buffer[] = [];
  const server = createServer((req, res) => {
    const parts: Buffer[] = [];
    req.on('data', (c: Buffer) => parts.push(c));
    req.on('end', () => {
      if (req.url === '/v1/traces' && req.headers['content-type'] === 'application/x-protobuf') {
        bodies.push(Buffer.concat(parts));
      }
      res.writeHead(200, { 'content-type': 'application/x-protobuf' }).end();
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  ctx.after(() => new Promise((r) => server.close(r)));
  const port = (server.address() as AddressInfo).port;
  const saved = process.env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT;
  process.env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT = `http://127.0.0.1:${port}/v1/traces`;
  ctx.after(() => {
    if (saved === undefined) delete process.env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT;
    else process.env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT = saved;
  });
  const resource = resourceFromAttributes(resourceAttributes);
  const sender = await encoderSender({ resource, scope, shared });
  const block = Buffer.alloc(rows.reduce((n, r) => n + rowBound(r), 0));
  let length = 0;
  for (const r of rows) length = writeRow(block, length, r);
  sender.addBlock(block, length);
  await sender.shutdown();
  assert.equal(bodies.length, 1, 'one request');
  const expected = new AttemptEncoder(resourceAttributes, scope, shared).encode(rows);
  assert.deepEqual(bodies[0], Buffer.from(expected));
});
