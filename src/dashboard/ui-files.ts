import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/**
 * Where `npm run build` put the dashboard's files (`dist/ui` of this package), found from this
 * module's own place whatever the working directory (a container starts the service from `/`, a
 * test from the repository, the bin from anywhere): the nearest folder above holding this
 * package's package.json. Null when they are not built.
 */
export function uiFilesDir(from: string = fileURLToPath(import.meta.url)): string | null {
  for (let dir = dirname(from); ; dir = dirname(dir)) {
    const manifest = join(dir, 'package.json');
    if (existsSync(manifest) && isThisPackage(manifest)) {
      const ui = join(dir, 'dist', 'ui');
      return existsSync(join(ui, 'index.html')) ? ui : null;
    }
    if (dirname(dir) === dir) return null;
  }
}

function isThisPackage(manifest: string): boolean {
  try {
    return (JSON.parse(readFileSync(manifest, 'utf8')) as { name?: unknown }).name === 'message-scheduler';
  } catch {
    return false;
  }
}
