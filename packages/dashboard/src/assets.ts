/**
 * Static assets of the dashboard, served from this process (no CDN): htmx, its SSE extension
 * and uPlot from node_modules, and the package's own `assets/` (app.css, app.js).
 *
 * Invariants:
 * - The set of files is fixed at startup (read into memory once: ~150 KB); a request can only
 *   name one of them, never a path, so nothing else on disk is reachable.
 * - Every URL carries `?v=<content hash>`; a request with the current hash is cached for a
 *   year (`immutable`), any other is answered `no-cache`, so a new version is never masked.
 */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import type { FastifyInstance } from 'fastify';

export interface Asset {
  name: string;
  body: Buffer;
  type: string;
  hash: string;
}

const require = createRequire(import.meta.url);
/** The package's own assets directory (`src/` and `dist/` both sit next to it). */
const OWN = fileURLToPath(new URL('../assets/', import.meta.url));

const FILES: Array<{ name: string; path: () => string; type: string }> = [
  { name: 'htmx.min.js', path: () => require.resolve('htmx.org/dist/htmx.min.js'), type: 'text/javascript; charset=utf-8' },
  { name: 'sse.js', path: () => require.resolve('htmx-ext-sse/dist/sse.min.js'), type: 'text/javascript; charset=utf-8' },
  { name: 'uPlot.iife.min.js', path: () => require.resolve('uplot/dist/uPlot.iife.min.js'), type: 'text/javascript; charset=utf-8' },
  { name: 'uPlot.min.css', path: () => require.resolve('uplot/dist/uPlot.min.css'), type: 'text/css; charset=utf-8' },
  { name: 'app.css', path: () => `${OWN}app.css`, type: 'text/css; charset=utf-8' },
  { name: 'app.js', path: () => `${OWN}app.js`, type: 'text/javascript; charset=utf-8' },
];

export class Assets {
  private readonly byName = new Map<string, Asset>();

  constructor() {
    for (const f of FILES) {
      const body = readFileSync(f.path());
      this.byName.set(f.name, { name: f.name, body, type: f.type, hash: createHash('sha256').update(body).digest('hex').slice(0, 12) });
    }
  }

  /** The versioned URL of an asset, e.g. `/ui/assets/app.js?v=1a2b3c…`. */
  url(name: string): string {
    const asset = this.byName.get(name);
    if (!asset) throw new Error(`no dashboard asset ${name}`);
    return `/ui/assets/${asset.name}?v=${asset.hash}`;
  }

  register(app: FastifyInstance): void {
    app.get<{ Params: { name: string }; Querystring: { v?: string } }>('/ui/assets/:name', { config: { public: true } }, async (request, reply) => {
      const asset = this.byName.get(request.params.name);
      if (!asset) return reply.code(404).type('text/plain; charset=utf-8').send('Not found');
      const current = request.query.v === asset.hash;
      return reply
        .type(asset.type)
        .header('cache-control', current ? 'public, max-age=31536000, immutable' : 'no-cache')
        .header('etag', `"${asset.hash}"`)
        .send(asset.body);
    });
  }
}
