import { readFileSync } from 'node:fs';

function readVersion(): string {
  // this file runs from src/app/ (tsx) or dist/src/app/ (built)
  for (const rel of ['../../package.json', '../../../package.json']) {
    try {
      const pkg = JSON.parse(readFileSync(new URL(rel, import.meta.url), 'utf8')) as {
        name?: string;
        version?: string;
      };
      if (pkg.name === 'message-scheduler' && pkg.version) return pkg.version;
    } catch {
      // try the next
    }
  }
  return '0.0.0';
}

/** The package's version: the API's, the metrics', the spans' and the User-Agent's. */
export const VERSION = readVersion();
