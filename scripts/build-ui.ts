/**
 * Builds the dashboard (ui/) into dist/ui: esbuild bundles ui/src/main.tsx (Preact) into one
 * minified app.js, and index.html and app.css are copied beside it. The UI is type-checked first
 * (`tsc -p ui/tsconfig.json`; esbuild only strips types). `npm run build` runs it.
 */
import { build } from 'esbuild';
import { copyFileSync, mkdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const out = join(root, 'dist', 'ui');
mkdirSync(out, { recursive: true });
await build({
  entryPoints: [join(root, 'ui', 'src', 'main.tsx')],
  outfile: join(out, 'app.js'),
  bundle: true,
  format: 'esm',
  minify: true,
  sourcemap: true,
  target: ['es2022'],
  jsx: 'automatic',
  jsxImportSource: 'preact',
  legalComments: 'linked',
  logLevel: 'warning',
});
for (const f of ['index.html', 'app.css']) copyFileSync(join(root, 'ui', f), join(out, f));
process.stdout.write(`dashboard built into ${out}\n`);
