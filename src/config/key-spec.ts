/**
 * The shape of one setting in the table of every setting (keys.ts): its YAML key, its variable,
 * its type, default and bounds, whether it holds a secret, and its documentation.
 */
export type KeyType =
  | 'duration'
  | 'int'
  | 'number'
  | 'bool'
  | 'string'
  | 'url'
  | 'level'
  | 'choice'
  /** a YAML list of strings, or one string of space-separated items (the environment's form) */
  | 'list';

export type Secrecy = true | 'url' | 'headers';

export interface KeySpec {
  /** dotted path in the YAML file, as the original named it */
  readonly key: string;
  /** environment variable that overrides the file */
  readonly env: string;
  readonly type: KeyType;
  readonly default: string | number | boolean;
  readonly min?: number;
  readonly max?: number;
  /** the allowed values of a `choice` (or of each item of a `list`) */
  readonly choices?: readonly string[];
  /** a `url` that may be left empty (the feature is off) */
  readonly optional?: boolean;
  /**
   * The value holds a secret, never printed (not in an error, not in a log line: the logger
   * redacts every value this flag names, src/config/redact.ts): `true`: the whole value, and each
   * item of a list; `url`: the password inside a URL; `headers`: each value of `key=value,...`.
   */
  readonly secret?: Secrecy;
  /** an empty environment value is a value (e.g. "no prefix"), not "unset" */
  readonly emptyEnvIsValue?: boolean;
  readonly doc: string;
}
