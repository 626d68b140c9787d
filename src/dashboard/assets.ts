// The page's static files: assets/dashboard/ at the package root (listed in package.json "files",
// so `npm pack` ships them). Plain HTML, CSS and browser JavaScript: no build step, nothing
// fetched from the internet. Read once, on the first request, from src/dashboard/ and
// dist/dashboard/ alike (both two levels below the root).
import * as fs from 'node:fs';
import * as path from 'node:path';

export const ASSET_DIR = path.resolve(__dirname, '..', '..', 'assets', 'dashboard');

const TYPES: Record<string, string> = {
  'index.html': 'text/html; charset=utf-8',
  'dashboard.css': 'text/css; charset=utf-8',
  'dashboard.js': 'text/javascript; charset=utf-8',
  'charts.js': 'text/javascript; charset=utf-8',
};

/** The files the page may load (the HTML is served as the page itself). */
export const STATIC_ASSETS = Object.keys(TYPES).filter((n) => n !== 'index.html');

let cache: Map<string, { type: string; body: Buffer }> | null = null;

/** One asset by file name; null for a name that is not one of them. */
export function asset(name: string): { type: string; body: Buffer } | null {
  if (cache === null) {
    cache = new Map(Object.entries(TYPES).map(([n, type]) => [n, { type, body: fs.readFileSync(path.join(ASSET_DIR, n)) }]));
  }
  return cache.get(name) ?? null;
}
