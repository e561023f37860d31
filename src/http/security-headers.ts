import type { IncomingMessage, ServerResponse } from 'node:http';
import helmet, { strictTransportSecurity, type HelmetOptions } from 'helmet';

/**
 * The security headers of every answer, in one place: @fastify/helmet sends them on the API's
 * answers, and the answers Node's HTTP parser makes before a request exists (400, 408, 431)
 * carry the same ones, computed by helmet itself from the same options (they carried none).
 */
export const HELMET_OPTIONS = {
  contentSecurityPolicy: {
    directives: {
      // the service is often reached over plain HTTP inside a network: do not upgrade its assets
      upgradeInsecureRequests: null,
    },
  },
  // only over HTTPS (httpsOnlyHeaders): over plain HTTP it means nothing to a browser, and says
  // the service is served over HTTPS when it is not
  strictTransportSecurity: false,
} satisfies HelmetOptions;

/** The headers a helmet middleware sets, as one object (header names lower case). */
function headersOf(middleware: (req: IncomingMessage, res: ServerResponse, next: () => void) => void) {
  const headers: Record<string, string> = {};
  const res = {
    setHeader(name: string, value: string | number | readonly string[]) {
      headers[name.toLowerCase()] = Array.isArray(value) ? value.join(', ') : String(value);
    },
    removeHeader(name: string) {
      delete headers[name.toLowerCase()];
    },
  };
  middleware({} as IncomingMessage, res as unknown as ServerResponse, () => undefined);
  return headers;
}

/** What helmet sends on an answer with HELMET_OPTIONS. */
export const SECURITY_HEADERS: Readonly<Record<string, string>> = headersOf(helmet(HELMET_OPTIONS));

/** Strict-Transport-Security as helmet writes it, for answers over HTTPS only. */
export const HSTS: string = headersOf(strictTransportSecurity())['strict-transport-security'] ?? '';
