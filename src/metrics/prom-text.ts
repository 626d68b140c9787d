// Prometheus text exposition format (version 0.0.4) from MetricFamily data, and a node:http
// handler serving it: metrics over HTTP with no framework and no prom-client.
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Labels, MetricFamily } from './counters';

export const PROM_CONTENT_TYPE = 'text/plain; version=0.0.4; charset=utf-8';

const escapeHelp = (s: string): string => s.replace(/\\/g, '\\\\').replace(/\n/g, '\\n');
const escapeLabel = (s: string): string => s.replace(/\\/g, '\\\\').replace(/\n/g, '\\n').replace(/"/g, '\\"');

function num(v: number): string {
  if (Number.isNaN(v)) return 'NaN';
  if (v === Infinity) return '+Inf';
  if (v === -Infinity) return '-Inf';
  return String(v);
}

function labelText(labels: Labels, extra?: [string, string]): string {
  const parts = Object.entries(labels).map(([k, v]) => `${k}="${escapeLabel(String(v))}"`);
  if (extra !== undefined) parts.push(`${extra[0]}="${escapeLabel(extra[1])}"`);
  return parts.length === 0 ? '' : `{${parts.join(',')}}`;
}

/** Renders metric families in the Prometheus text format (one HELP and TYPE per family). */
export function formatPrometheus(families: readonly MetricFamily[]): string {
  const out: string[] = [];
  for (const f of families) {
    out.push(`# HELP ${f.name} ${escapeHelp(f.help)}`, `# TYPE ${f.name} ${f.type}`);
    if (f.type === 'histogram') {
      for (const s of f.samples) {
        for (const [le, count] of s.buckets) out.push(`${f.name}_bucket${labelText(s.labels, ['le', num(le)])} ${count}`);
        out.push(`${f.name}_bucket${labelText(s.labels, ['le', '+Inf'])} ${s.count}`);
        out.push(`${f.name}_sum${labelText(s.labels)} ${num(s.sum)}`);
        out.push(`${f.name}_count${labelText(s.labels)} ${s.count}`);
      }
    } else {
      for (const s of f.samples) out.push(`${f.name}${labelText(s.labels)} ${num(s.value)}`);
    }
  }
  return `${out.join('\n')}\n`;
}

/**
 * A node:http request handler serving `collect()` in the Prometheus text format: GET and HEAD
 * answer 200, other methods 405; a throwing or rejecting collect answers 500 (never crashes the server).
 */
export function promHandler(collect: () => readonly MetricFamily[] | Promise<readonly MetricFamily[]>): (req: IncomingMessage, res: ServerResponse) => void {
  return (req, res) => {
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { allow: 'GET, HEAD', 'content-type': 'text/plain' });
      res.end('Method Not Allowed\n');
      return;
    }
    Promise.resolve()
      .then(collect)
      .then(
        (families) => {
          const body = formatPrometheus(families);
          res.writeHead(200, { 'content-type': PROM_CONTENT_TYPE, 'content-length': Buffer.byteLength(body) });
          res.end(req.method === 'HEAD' ? undefined : body);
        },
        (err: unknown) => {
          if (!res.headersSent) res.writeHead(500, { 'content-type': 'text/plain' });
          res.end(`# metrics collection failed: ${String((err as Error)?.message ?? err)}\n`);
        },
      );
  };
}
