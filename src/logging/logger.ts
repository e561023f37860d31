import pino from 'pino';
import type { Logger } from 'pino';
import type { LogLevel } from '../config/config.js';
import { redact, redactValue, secretsOf } from '../config/redact.js';

export type { Logger };

/**
 * Structured JSON logs. Secrets never reach a log line: every value of a setting flagged `secret`
 * (src/config/keys.ts; `Config.secrets` holds them, from the file and the environment) is replaced
 * by `***` wherever it appears, in the message, in any field, in an error's text; and the request
 * headers that carry credentials are censored by name.
 */
export function createLogger(
  level: LogLevel,
  destination?: pino.DestinationStream,
  secrets: readonly string[] = secretsOf(process.env),
): Logger {
  // with no secret configured, nothing to walk: a log line costs what pino costs
  const values =
    secrets.length === 0
      ? {}
      : {
          formatters: {
            log: (obj: Record<string, unknown>) => redactValue(obj, secrets) as Record<string, unknown>,
          },
          hooks: {
            logMethod(this: pino.Logger, args: Parameters<pino.LogFn>, method: pino.LogFn) {
              const redacted = args.map((a) =>
                typeof a === 'string' ? redact(a, secrets) : a,
              ) as Parameters<pino.LogFn>;
              return method.apply(this, redacted);
            },
          },
        };
  const logger = pino(
    {
      level,
      base: { service: 'message-scheduler' },
      ...values,
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
        paths: ['req.headers["x-api-key"]', 'req.headers.authorization', 'req.headers["webhook-signature"]'],
        censor: '[redacted]',
      },
    },
    destination,
  );
  if (secrets.length > 0) {
    // a child's fields are written once, when it is made (pino formats no child bindings):
    // redacted here; children inherit this method, so grandchildren are covered too
    const child = logger.child as unknown as (
      this: Logger,
      bindings: pino.Bindings,
      options?: pino.ChildLoggerOptions,
    ) => Logger;
    const redactingChild = function (
      this: Logger,
      bindings: pino.Bindings,
      options?: pino.ChildLoggerOptions,
    ) {
      return child.call(this, redactValue(bindings, secrets) as pino.Bindings, options);
    };
    logger.child = redactingChild as unknown as typeof logger.child;
  }
  return logger;
}

/** A logger with no output, for tests that do not read logs. */
export function silentLogger(): Logger {
  return pino({ level: 'silent' });
}
