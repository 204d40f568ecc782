/**
 * The API's own description: `/openapi.json` (OpenAPI 3.1, generated from the route schemas)
 * and `/docs`, Swagger UI served from the `swagger-ui-dist` package on this machine (no CDN).
 *
 * Invariant: only the files named in ASSETS are served from the package directory, so no
 * request path reaches the file system. The page runs no inline script (strict CSP).
 */
import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';

const require = createRequire(import.meta.url);
const SWAGGER_DIR = dirname(require.resolve('swagger-ui-dist/package.json'));

const ASSETS: Record<string, string> = {
  'swagger-ui.css': 'text/css; charset=utf-8',
  'swagger-ui-bundle.js': 'text/javascript; charset=utf-8',
  'swagger-ui-standalone-preset.js': 'text/javascript; charset=utf-8',
  'favicon-32x32.png': 'image/png',
};

const CSP = "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; script-src 'self'; object-src 'none'; frame-ancestors 'none'";

const PAGE = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>Spindle API</title>
<link rel="stylesheet" href="/docs/static/swagger-ui.css">
<link rel="icon" type="image/png" href="/docs/static/favicon-32x32.png">
</head>
<body>
<div id="swagger-ui"></div>
<script src="/docs/static/swagger-ui-bundle.js"></script>
<script src="/docs/static/swagger-ui-standalone-preset.js"></script>
<script src="/docs/init.js"></script>
</body>
</html>
`;

const INIT = `window.ui = SwaggerUIBundle({ url: '/openapi.json', dom_id: '#swagger-ui', deepLinking: true, presets: [SwaggerUIBundle.presets.apis, SwaggerUIStandalonePreset], layout: 'StandaloneLayout' });\n`;

export function docsRoutes(): FastifyPluginAsyncZod {
  return async (app) => {
    const cache = new Map<string, Buffer>();
    app.get('/openapi.json', { config: { public: true }, schema: { hide: true } }, async (_request, reply) => reply.type('application/json; charset=utf-8').send(JSON.stringify(app.swagger())));
    app.get('/docs', { config: { public: true }, schema: { hide: true } }, async (_request, reply) => reply.header('content-security-policy', CSP).type('text/html; charset=utf-8').send(PAGE));
    app.get('/docs/init.js', { config: { public: true }, schema: { hide: true } }, async (_request, reply) => reply.type('text/javascript; charset=utf-8').send(INIT));
    app.get('/docs/static/:file', { config: { public: true }, schema: { hide: true, params: z.object({ file: z.string().max(100) }) } }, async (request, reply) => {
      const type = Object.hasOwn(ASSETS, request.params.file) ? ASSETS[request.params.file] : undefined;
      if (!type) return reply.callNotFound();
      let content = cache.get(request.params.file);
      if (!content) {
        content = await readFile(join(SWAGGER_DIR, request.params.file));
        cache.set(request.params.file, content);
      }
      return reply.header('cache-control', 'public, max-age=86400').type(type).send(content);
    });
  };
}
