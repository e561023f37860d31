import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

/** What a test receiver answers to one webhook (its raw body). */
export type Answer = (body: string) => { status: number; type?: string; body: string };

const ok: Answer = (_body) => ({ status: 200, type: 'application/json', body: '{"messageId":"ok"}' });

/**
 * A webhook receiver on 127.0.0.1 for tests: records each arrival (time, parsed body) and answers
 * as `answer` says (200 with a messageId by default).
 */
export class Receiver {
  readonly got: { at: number; body: { messageId?: string } & Record<string, unknown> }[] = [];
  private readonly server: Server;
  port = 0;

  constructor(answer: Answer = ok) {
    this.server = createServer((req, res) => {
      let body = '';
      req.setEncoding('utf8');
      req.on('data', (c: string) => (body += c));
      req.on('end', () => {
        this.got.push({ at: Date.now(), body: JSON.parse(body) as Record<string, unknown> });
        const a = answer(body);
        res.writeHead(a.status, { 'content-type': a.type ?? 'application/json' });
        res.end(a.body);
      });
    });
  }

  async start(): Promise<this> {
    await new Promise<void>((r) => this.server.listen(0, '127.0.0.1', r));
    this.port = (this.server.address() as AddressInfo).port;
    return this;
  }

  close(): Promise<void> {
    this.server.closeAllConnections();
    return new Promise((r) => this.server.close(() => r()));
  }
}
