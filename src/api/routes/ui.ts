import type { FastifyPluginAsync } from 'fastify';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import fastifyStatic from '@fastify/static';
import { AppError } from '../../errors/codes.js';

/**
 * The dashboard's policy: its own scripts and styles only, no inline script or style, requests to
 * this origin only, never framed. Stricter than the API's (helmet's defaults, which Swagger UI needs).
 */
export const UI_CSP = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' data:",
  "font-src 'self'",
  "connect-src 'self'",
  "manifest-src 'self'",
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
].join('; ');

/**
 * The dashboard at /ui/: the files `npm run build` made (src/dashboard/ui-files.ts), public (they
 * hold no data: every screen reads the API with the credential the page is given). `dir` null:
 * they are not built, and /ui/ says so.
 */
export const uiRoutes: FastifyPluginAsync<{ dir: string | null }> = async (app, o) => {
  app.addHook('onSend', async (_req, reply) => {
    void reply.header('content-security-policy', UI_CSP);
    void reply.header('x-frame-options', 'DENY');
    void reply.header('cache-control', 'no-cache');
  });
  if (o.dir === null) {
    app.get('/ui/*', { schema: { hide: true } }, async () => {
      throw new AppError('NOT_FOUND', "the dashboard's files are not built: run npm run build");
    });
    return;
  }
  const dir = o.dir;
  // the page itself: /ui redirects to /ui/ (the router takes them as one route: ignoreTrailingSlash),
  // so the page's relative links resolve under /ui/, behind a proxy's path prefix too
  const page = await readFile(join(dir, 'index.html'));
  app.get('/ui/', { schema: { hide: true } }, async (req, reply) => {
    const path = req.url.split('?')[0] ?? '';
    if (!path.endsWith('/')) return reply.redirect(`${path.slice(path.lastIndexOf('/') + 1)}/`, 301);
    return reply.type('text/html; charset=utf-8').send(page);
  });
  await app.register(fastifyStatic, {
    root: dir,
    prefix: '/ui/',
    decorateReply: false,
    index: false,
    wildcard: true,
    schemaHide: true,
    // no directory listing, no dotfiles; ETags for the revalidation no-cache asks for
    list: false,
    dotfiles: 'deny',
    etag: true,
    lastModified: false,
  });
};
