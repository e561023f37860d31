import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import type { Logger } from '../logging/logger.js';
import { clientKey } from './client-address.js';

export interface ConnectionLimits {
  /** open connections at most */
  maxConnections: number;
  /** open connections of one client (clientKey) at most */
  maxPerClient: number;
}

export interface ConnectionGuardOptions extends ConnectionLimits {
  /** the listener's name in log lines (`api`, `metrics`) */
  name: string;
  logger: Logger;
  /** addresses whose connections no per-client cap applies to (trusted proxies) */
  exempt?: (address: string) => boolean;
  now?: () => number;
}

interface Conn {
  socket: Socket;
  client: string;
  /** requests in progress on it */
  active: number;
  /** when it last started or finished something (its connect, a request's end) */
  lastActive: number;
  served: number;
}

/** A connection that never sent a request counts as idle once it has been open this long. */
const FRESH_MS = 1000;
/** Above this share of maxConnections, each new connection closes the longest-idle one. */
const HIGH_WATER = 0.9;
/** Refusals and closings are summed up in one log line per period. */
const REPORT_EVERY_MS = 10_000;

/**
 * What one client can hold of a listener's connections (docs/decisions.md, "Connections per
 * client"). Node's `server.maxConnections` refused every new connection at the cap, whoever
 * opened it: one client holding 4,097 idle keep-alive connections left everyone, /healthz
 * included, with a reset. Here:
 *
 * - a client (an IPv4 address, an IPv6 /64) holds at most `maxPerClient`: past that its own
 *   longest-idle connection is closed for the new one, or the new one is refused if all of its
 *   connections are working on a request (other clients are not touched either way);
 * - near `maxConnections` the longest-idle connection of anyone is closed first; at the cap, if
 *   none is idle, the client holding the most gives up its oldest, so a client holding fewer can
 *   always get in;
 * - idle means between requests (a client must expect a kept-alive connection to close), or
 *   opened over a second ago without sending one.
 */
export class ConnectionGuard {
  private readonly conns = new Map<Socket, Conn>();
  private readonly byClient = new Map<string, Set<Conn>>();
  private readonly now: () => number;
  private refused = 0;
  private closed = 0;
  private lastReport = 0;
  private reportTimer: NodeJS.Timeout | null = null;

  constructor(private readonly o: ConnectionGuardOptions) {
    this.now = o.now ?? Date.now;
  }

  /** Watches `server`'s connections and requests. */
  attach(server: Server): void {
    server.on('connection', (socket: Socket) => this.admit(socket));
    server.on('request', (req: IncomingMessage, res: ServerResponse) => this.started(req.socket, res));
    // once listening, a failed accept (EMFILE: out of file descriptors) is said, not silent
    server.once('listening', () =>
      server.on('error', (err: NodeJS.ErrnoException) => {
        this.o.logger.error({ err, listener: this.o.name }, 'cannot accept a connection');
      }),
    );
    server.once('close', () => {
      if (this.reportTimer) clearTimeout(this.reportTimer);
      this.reportTimer = null;
    });
  }

  /** Open connections, and of how many clients. */
  get open(): { connections: number; clients: number } {
    return { connections: this.conns.size, clients: this.byClient.size };
  }

  private admit(socket: Socket): void {
    const address = socket.remoteAddress ?? '';
    const client = clientKey(address);
    const mine = this.byClient.get(client);
    if (mine && mine.size >= this.o.maxPerClient && !this.o.exempt?.(address)) {
      // its longest-idle connection gives way; when all are busy the newcomer is refused before
      // any byte is read: closing busy ones instead tore down a request per reconnect (2,000 slow
      // bodies from one address cost /healthz 1.4 s) and made reconnecting an attack of its own
      const idle = this.longestIdle(mine);
      if (!idle) return this.refuse(socket, client, 'client');
      this.close(idle);
    }
    if (this.conns.size >= this.o.maxConnections) {
      const victim = this.longestIdle(this.conns.values()) ?? this.fromLargest(client);
      if (!victim) return this.refuse(socket, client, 'total');
      this.close(victim);
    } else if (this.conns.size >= this.o.maxConnections * HIGH_WATER) {
      const idle = this.longestIdle(this.conns.values());
      if (idle) this.close(idle);
    }
    const conn: Conn = { socket, client, active: 0, lastActive: this.now(), served: 0 };
    this.conns.set(socket, conn);
    let set = this.byClient.get(client);
    if (!set) this.byClient.set(client, (set = new Set()));
    set.add(conn);
    socket.once('close', () => this.forget(conn));
  }

  private started(socket: Socket, res: ServerResponse): void {
    const conn = this.conns.get(socket);
    if (!conn) return;
    conn.active++;
    conn.lastActive = this.now();
    res.once('close', () => {
      conn.active--;
      conn.served++;
      conn.lastActive = this.now();
    });
  }

  private forget(conn: Conn): void {
    this.conns.delete(conn.socket);
    const set = this.byClient.get(conn.client);
    set?.delete(conn);
    if (set?.size === 0) this.byClient.delete(conn.client);
  }

  private isIdle(c: Conn, now: number): boolean {
    return c.active === 0 && (c.served > 0 || now - c.lastActive >= FRESH_MS);
  }

  private longestIdle(conns: Iterable<Conn>): Conn | null {
    const now = this.now();
    let best: Conn | null = null;
    for (const c of conns) {
      if (this.isIdle(c, now) && (best === null || c.lastActive < best.lastActive)) best = c;
    }
    return best;
  }

  /** The oldest connection of the client holding the most, if it holds more than `newcomer` would. */
  private fromLargest(newcomer: string): Conn | null {
    let largest: Set<Conn> | null = null;
    for (const [client, set] of this.byClient) {
      if (client !== newcomer && (largest === null || set.size > largest.size)) largest = set;
    }
    const mine = this.byClient.get(newcomer)?.size ?? 0;
    if (!largest || largest.size <= mine + 1) return null;
    // a Set iterates in insertion order: the first is the oldest
    return largest.values().next().value ?? null;
  }

  private close(conn: Conn): void {
    this.closed++;
    this.forget(conn);
    conn.socket.destroy();
    this.report();
  }

  private refuse(socket: Socket, client: string, cap: 'client' | 'total'): void {
    this.refused++;
    socket.destroy();
    this.report(client, cap);
  }

  /** One warning per period: how many connections were refused or closed, and why. */
  private report(client?: string, cap?: 'client' | 'total'): void {
    const now = this.now();
    if (now - this.lastReport < REPORT_EVERY_MS) {
      this.reportTimer ??= setTimeout(() => {
        this.reportTimer = null;
        this.report();
      }, REPORT_EVERY_MS).unref();
      return;
    }
    if (this.refused === 0 && this.closed === 0) return;
    this.lastReport = now;
    this.o.logger.warn(
      {
        listener: this.o.name,
        refused: this.refused,
        closed: this.closed,
        ...(client ? { client, cap } : {}),
        open: this.conns.size,
        clients: this.byClient.size,
        max_connections: this.o.maxConnections,
        max_per_client: this.o.maxPerClient,
      },
      'connections refused or closed to keep room for every client',
    );
    this.refused = 0;
    this.closed = 0;
  }
}
