/** Thrown for a bad setting; the message is the one line the operator sees. */
export class ConfigError extends Error {
  override name = 'ConfigError';
}
