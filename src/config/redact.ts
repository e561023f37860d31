import { otlpHeaderSecrets } from './tracing-config.js';

/**
 * Credentials never reach a log line or an error message: a URL's password
 * (any scheme, parsed or not) becomes `***`, and each known secret value is
 * replaced wherever it appears.
 */
const URL_CREDENTIALS = /([a-z][a-z0-9+.-]*:\/\/)([^/?#@\s"]*?)(?::[^/?#@\s"]*)?@/gi;

export function redactUrl(text: string): string {
  return text.replace(URL_CREDENTIALS, (_m, scheme: string, user: string) =>
    user ? `${scheme}${user}:***@` : `${scheme}***@`,
  );
}

/** The secrets held in the environment the service reads: passwords and the passwords inside URLs. */
export function secretsOf(env: Record<string, string | undefined>): string[] {
  const out: string[] = [];
  for (const name of ['REDIS_PASSWORD', 'WEBHOOK_SECRET']) {
    const v = env[name];
    // several signing secrets are space-separated: each is a secret on its own
    if (v) out.push(v, ...v.split(/\s+/));
  }
  for (const name of [
    'REDIS_URI',
    'DATABASE_URL',
    'MONGODB_URI',
    'WEBHOOK_URL',
    'WEBHOOK_CLIENT_HOST',
    'OTEL_EXPORTER_OTLP_ENDPOINT',
    'OTEL_EXPORTER_OTLP_TRACES_ENDPOINT',
  ]) {
    const v = env[name];
    if (!v) continue;
    const m = /:\/\/[^/?#@\s]*?:([^/?#@\s]*)@/.exec(v);
    if (m?.[1]) {
      out.push(m[1]);
      try {
        out.push(decodeURIComponent(m[1]));
      } catch {
        // a malformed escape: the raw text is enough
      }
    }
  }
  out.push(...otlpHeaderSecrets(env));
  // longest first, so a secret that contains another is replaced whole; short ones would mask too much
  return [...new Set(out)].filter((s) => s.length >= 3).sort((a, b) => b.length - a.length);
}

export function redact(text: string, secrets: readonly string[] = []): string {
  let out = redactUrl(text);
  for (const s of secrets) out = out.split(s).join('***');
  return out;
}
