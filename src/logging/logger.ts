import pino from 'pino';
import type { Logger } from 'pino';
import type { LogLevel } from '../config/config.js';
import { redact, secretsOf } from '../config/redact.js';

export type { Logger };

/**
 * Structured JSON logs. Secrets never reach a log line: the config logged at
 * start is redacted, and these paths are censored wherever they appear.
 */
export function createLogger(
  level: LogLevel,
  destination?: pino.DestinationStream,
  env: Record<string, string | undefined> = process.env,
): Logger {
  const secrets = secretsOf(env);
  return pino(
    {
      level,
      base: { service: 'message-scheduler' },
      // errors are where a driver may quote a URL or a password: their text is redacted
      // (errors are rare, so this costs nothing on the delivery path)
      serializers: {
        err: (e: unknown) => {
          const s = pino.stdSerializers.err(e as Error) as Record<string, unknown>;
          for (const k of ['message', 'stack']) {
            if (typeof s[k] === 'string') s[k] = redact(s[k], secrets);
          }
          return s;
        },
      },
      redact: {
        paths: [
          'config.webhook.signingSecrets',
          'req.headers["x-api-key"]',
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
