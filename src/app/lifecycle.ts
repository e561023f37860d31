import type { Logger } from '../logging/logger.js';

/**
 * One start order, closed in reverse: each part of a node is opened through `open`, which records
 * how to close it. A part that fails to open closes every part opened before it (newest first)
 * and the error goes on, so a node that cannot start leaves nothing running. `close()` closes every
 * part once, newest first; a part that fails to close is logged and the others still close.
 */
export class Lifecycle {
  private readonly parts: Array<{ name: string; close: () => Promise<void> }> = [];
  private closing: Promise<void> | null = null;

  constructor(private readonly logger: Logger) {}

  async open<T>(
    name: string,
    start: () => Promise<T> | T,
    close: (part: T) => Promise<unknown> | unknown,
  ): Promise<T> {
    if (this.closing) throw new Error(`cannot open ${name}: the node is closing`);
    let part: T;
    try {
      part = await start();
    } catch (err) {
      await this.close();
      throw err;
    }
    this.parts.push({ name, close: async () => void (await close(part)) });
    return part;
  }

  close(): Promise<void> {
    this.closing ??= (async () => {
      for (const part of [...this.parts].reverse()) {
        try {
          await part.close();
        } catch (err) {
          this.logger.warn({ err, part: part.name }, 'a part of the node did not close cleanly');
        }
      }
    })();
    return this.closing;
  }
}
