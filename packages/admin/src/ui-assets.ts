import { readdirSync, readFileSync, statSync } from 'node:fs';
import { extname, join, relative, resolve, sep } from 'node:path';
import { gzipSync } from 'node:zlib';
import type { Middleware } from 'koa';
import type { AddressSet } from './cidr';

/**
 * The dashboard's static files (packages/ui, built by `make build` into packages/ui/dist),
 * served at `/ui/` on the admin port. The files are read once when the admin app is created:
 * a URL can only name a file that was in the folder then, so no request path ever reaches the
 * file system (no traversal to guard against), and each file is gzipped once.
 *
 * The assets need no admin key — they hold nothing secret, and the page itself asks for the key
 * before calling the Admin API — but the admin's network allow-list applies to them as to the API.
 */

/** Where `make build` puts the dashboard; the same path from admin's src/ and dist/. */
export const DEFAULT_UI_DIR = resolve(__dirname, '..', '..', 'ui', 'dist');

/**
 * The page may load only its own scripts and styles and talk only to its own origin; no inline
 * script or style, no framing, no plugins. Vite's build emits external files only.
 */
export const UI_CSP = [
  "default-src 'self'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' data:",
  "connect-src 'self'",
  "font-src 'self'",
  "object-src 'none'",
  "base-uri 'none'",
  "form-action 'self'",
  "frame-ancestors 'none'",
].join('; ');

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
  '.json': 'application/json',
  '.txt': 'text/plain; charset=utf-8',
  '.webmanifest': 'application/manifest+json',
};

interface Asset {
  body: Buffer;
  gzip?: Buffer;
  type: string;
  /** Vite puts content-hashed names under assets/: those never change. */
  immutable: boolean;
}

function walk(dir: string, out: string[] = []): string[] {
  for (const name of readdirSync(dir)) {
    const full = join(dir, name);
    if (statSync(full).isDirectory()) walk(full, out);
    else out.push(full);
  }
  return out;
}

/** Reads every file under `dir`, keyed by its URL path below /ui/; undefined when not built. */
export function loadUiAssets(dir: string): Map<string, Asset> | undefined {
  let files: string[];
  try {
    files = walk(dir);
  } catch {
    return undefined;
  }
  const assets = new Map<string, Asset>();
  for (const file of files) {
    const rel = relative(dir, file).split(sep).join('/');
    const body = readFileSync(file);
    const type = TYPES[extname(file).toLowerCase()] ?? 'application/octet-stream';
    const compressible = /^(text\/|application\/(json|manifest)|image\/svg)/.test(type) && body.length > 512;
    assets.set(rel, { body, gzip: compressible ? gzipSync(body, { level: 9 }) : undefined, type, immutable: rel.startsWith('assets/') });
  }
  return assets.has('index.html') ? assets : undefined;
}

export interface UiOptions {
  /** Built files; default DEFAULT_UI_DIR. */
  dir?: string;
  allow: AddressSet;
}

/** Koa middleware for `/ui` and `/ui/...`; everything else passes through. */
export function uiMiddleware(opts: UiOptions): Middleware {
  const assets = loadUiAssets(opts.dir ?? DEFAULT_UI_DIR);
  return async (ctx, next) => {
    const path = ctx.path;
    if (path !== '/ui' && !path.startsWith('/ui/')) return next();
    if (!opts.allow.has(ctx.req.socket.remoteAddress)) {
      ctx.status = 403;
      ctx.body = { error_msg: '403 Forbidden' };
      return;
    }
    if (ctx.method !== 'GET' && ctx.method !== 'HEAD') {
      ctx.status = 405;
      ctx.set('Allow', 'GET, HEAD');
      ctx.body = { error_msg: `not supported \`${ctx.method}\` method for ui` };
      return;
    }
    if (path === '/ui') {
      ctx.status = 301;
      ctx.redirect('/ui/');
      return;
    }
    if (!assets) {
      ctx.status = 404;
      ctx.type = 'text/plain';
      ctx.body = 'The dashboard is not built: run `make build` (it builds packages/ui into packages/ui/dist).\n';
      return;
    }
    const rel = path.slice('/ui/'.length);
    // The app routes by the URL's fragment, so every other path under /ui/ is the page itself.
    const asset = assets.get(rel === '' ? 'index.html' : rel) ?? (rel.startsWith('assets/') ? undefined : assets.get('index.html'));
    if (!asset) {
      ctx.status = 404;
      ctx.type = 'text/plain';
      ctx.body = 'not found\n';
      return;
    }
    ctx.set('Content-Security-Policy', UI_CSP);
    ctx.set('X-Content-Type-Options', 'nosniff');
    ctx.set('Referrer-Policy', 'no-referrer');
    ctx.set('X-Frame-Options', 'DENY');
    ctx.set('Cache-Control', asset.immutable ? 'public, max-age=31536000, immutable' : 'no-cache');
    ctx.set('Vary', 'Accept-Encoding');
    ctx.type = asset.type;
    if (asset.gzip && ctx.acceptsEncodings('gzip', 'identity') === 'gzip') {
      ctx.set('Content-Encoding', 'gzip');
      ctx.body = asset.gzip;
    } else {
      ctx.body = asset.body;
    }
  };
}
