import pino from 'pino';
import type { Logger } from 'pino';
import type { LogLevel } from '../config/config.js';

export type { Logger };

/**
 * Structured JSON logs. Secrets never reach a log line: the config logged at
 * start is redacted, and these paths are censored wherever they appear.
 */
export function createLogger(level: LogLevel, destination?: pino.DestinationStream): Logger {
  return pino(
    {
      level,
      base: { service: 'message-scheduler' },
      redact: {
        paths: [
          'config.webhook.signingSecret',
          'config.redis.password',
          'config.store.databaseUrl',
          'config.store.mongodbUri',
          'req.headers.authorization',
          'req.headers["webhook-signature"]',
        ],
        censor: '[redacted]',
      },
    },
    destination,
  );
}

/** A logger with no output, for tests that do not read logs. */
export function silentLogger(): Logger {
  return pino({ level: 'silent' });
}
