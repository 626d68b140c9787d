// The dashboard as a node:http request handler, for `gpu-arbiter dashboard` and for an app's own
// server (arbiter.dashboardHandler(), like metricsHandler()). Read-only: GET and HEAD only, and
// nothing it serves changes the arbiter. Routes go by the last path segment, so an app can mount
// it under any prefix that ends in '/':
//   <dir>/            the page (assets/dashboard/index.html)
//   <dir>/events      the server-sent-events stream (hello, frame, alert)
//   <dir>/state.json  the newest frame, chart history and alerts, for scripts
//   <dir>/dashboard.js, charts.js, dashboard.css   the page's static files (no token: they are the
//                     package's public files and hold no data)
import type { IncomingMessage, ServerResponse } from 'node:http';
import { integerInRange, knownKeys, nonEmptyString, optionsObject } from '../util/validate';
import { asset, STATIC_ASSETS } from './assets';
import { presentedToken, tokenCheck } from './auth';
import { DashboardHub } from './hub';
import type { DashboardSource } from './types';

export interface DashboardOptions {
  /** Required from every page and script as ?token=, `Authorization: Bearer` or `X-Gpu-Arbiter-Token`. */
  token?: string;
  /** The page's heading. */
  title?: string;
  /** How often a frame and a chart point are taken (ms). @default 1000 */
  intervalMs?: number;
  /** How far back the charts go (ms). @default 300000 (5 minutes) */
  historyMs?: number;
}

/** A request handler with a close() that ends its streams and timers. */
export type DashboardHandler = ((req: IncomingMessage, res: ServerResponse) => void) & { close(): Promise<void> };

// The page loads only this server's own files and stream: nothing from the internet, no inline script.
const PAGE_HEADERS = {
  'content-security-policy':
    "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self' data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
  'referrer-policy': 'no-referrer',
  'x-content-type-options': 'nosniff',
  'cache-control': 'no-store',
};

/** Options after validation, with their defaults. */
export interface ResolvedDashboardOptions {
  token: string | undefined;
  title: string | undefined;
  intervalMs: number;
  historyMs: number;
}

/** @internal Validated options with defaults. */
export function parseDashboardOptions(options: unknown): ResolvedDashboardOptions {
  const o = optionsObject<DashboardOptions>('options', options ?? {});
  knownKeys('options', o, ['token', 'title', 'intervalMs', 'historyMs']);
  return {
    token: o.token === undefined ? undefined : nonEmptyString('options.token', o.token),
    title: o.title === undefined ? undefined : nonEmptyString('options.title', o.title),
    intervalMs: o.intervalMs === undefined ? 1000 : integerInRange('options.intervalMs', o.intervalMs, 100, 60_000),
    historyMs: o.historyMs === undefined ? 300_000 : integerInRange('options.historyMs', o.historyMs, 10_000, 3_600_000),
  };
}

function text(res: ServerResponse, status: number, body: string, headers: Record<string, string> = {}): void {
  res.writeHead(status, { 'content-type': 'text/plain; charset=utf-8', 'cache-control': 'no-store', ...headers });
  res.end(body);
}

/** @internal A handler serving `source` (frames are read from the moment it is made: the charts have history). */
export function createDashboardHandler(source: DashboardSource, options: ResolvedDashboardOptions): DashboardHandler {
  const hub = new DashboardHub(source, { intervalMs: options.intervalMs, historyMs: options.historyMs });
  const allowed = tokenCheck(options.token);
  const handler = (req: IncomingMessage, res: ServerResponse): void => {
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      text(res, 405, 'The dashboard is read-only: GET or HEAD\n', { allow: 'GET, HEAD' });
      return;
    }
    const url = new URL(req.url ?? '/', 'http://dashboard.invalid');
    const name = url.pathname.slice(url.pathname.lastIndexOf('/') + 1);
    if (STATIC_ASSETS.includes(name)) {
      const a = asset(name)!;
      res.writeHead(200, { 'content-type': a.type, 'x-content-type-options': 'nosniff', 'cache-control': 'no-cache' });
      res.end(req.method === 'HEAD' ? undefined : a.body);
      return;
    }
    if (name !== '' && name !== 'events' && name !== 'state.json') {
      text(res, 404, `Not found: the dashboard is at ${url.pathname.slice(0, url.pathname.lastIndexOf('/') + 1)}\n`);
      return;
    }
    if (!allowed(presentedToken(req, url))) {
      text(res, 401, 'This dashboard needs its token: open it as <url>?token=<token>, or send Authorization: Bearer <token>\n', {
        'www-authenticate': 'Bearer realm="gpu-arbiter dashboard"',
      });
      return;
    }
    if (name === 'events') {
      if (req.method === 'HEAD') {
        res.writeHead(200, { 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-store' });
        res.end();
        return;
      }
      void hub.attach(res);
      return;
    }
    if (name === 'state.json') {
      void hub.state().then((s) => {
        res.writeHead(200, { 'content-type': 'application/json; charset=utf-8', 'cache-control': 'no-store' });
        res.end(req.method === 'HEAD' ? undefined : JSON.stringify(s));
      });
      return;
    }
    const page = asset('index.html')!;
    res.writeHead(200, { 'content-type': page.type, ...PAGE_HEADERS });
    res.end(req.method === 'HEAD' ? undefined : page.body);
  };
  return Object.assign(handler, { close: () => hub.close() });
}
