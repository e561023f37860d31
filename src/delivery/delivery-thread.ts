/**
 * Runs inside a worker thread: owns one WebhookClient and answers batches of
 * requests from the ThreadedDeliverer in batches of results.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { WebhookClient, type WebhookClientOptions } from './webhook-client.js';
import type { FromThread, ToThread } from './threaded-deliverer.js';

if (!parentPort) throw new Error('delivery-thread.ts must run in a worker thread');
const port = parentPort;

const client = new WebhookClient(workerData as WebhookClientOptions);
let outbox: Extract<FromThread, { type: 'results' }>['results'] = [];
let scheduled = false;

function send(result: (typeof outbox)[number]): void {
  outbox.push(result);
  if (scheduled) return;
  scheduled = true;
  // results finished in the same turn of this thread's event loop go back in one message
  setImmediate(() => {
    scheduled = false;
    const msg: FromThread = { type: 'results', results: outbox };
    outbox = [];
    port.postMessage(msg);
  });
}

port.on('message', (msg: ToThread) => {
  if (msg.type === 'close') {
    void client.close(msg.graceMs).finally(() => port.close());
    return;
  }
  for (const job of msg.jobs) {
    client.deliver(job.request).then(
      (result) => send({ seq: job.seq, result }),
      (err: unknown) =>
        send({
          seq: job.seq,
          result: {
            kind: 'retryable',
            statusCode: null,
            error: String(err),
            retryAfterMs: null,
            maybeDelivered: true,
          },
        }),
    );
  }
});
