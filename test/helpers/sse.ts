// A server-sent-events reader for the dashboard tests: opens a stream over node:http, parses
// events as they come (`event:` + `data:` lines, a blank line ends one) and lets a test wait for
// the first event that matches. Also a plain GET for the other routes.
import * as http from 'node:http';

export interface SseEvent {
  event: string;
  data: unknown;
}

export interface SseStream {
  status: number;
  events: SseEvent[];
  /** Everything received, as text (for "never contains" checks). */
  raw(): string;
  /** Resolves with the first event (already received or to come) that matches; rejects after timeoutMs. */
  next(match: (e: SseEvent) => boolean, what: string, timeoutMs?: number): Promise<SseEvent>;
  /** Resolves when the server ends the stream. */
  ended: Promise<void>;
  close(): void;
}

export function openSse(port: number, path: string, headers: Record<string, string> = {}): Promise<SseStream> {
  return new Promise((resolve, reject) => {
    const req = http.get({ host: '127.0.0.1', port, path, headers: { accept: 'text/event-stream', ...headers } }, (res) => {
      const events: SseEvent[] = [];
      const waiters: Array<() => void> = [];
      let raw = '';
      let buffer = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => {
        raw += chunk;
        buffer += chunk;
        let end = buffer.indexOf('\n\n');
        while (end >= 0) {
          const block = buffer.slice(0, end);
          buffer = buffer.slice(end + 2);
          const name = /^event: (.*)$/m.exec(block)?.[1];
          const data = /^data: (.*)$/m.exec(block)?.[1];
          if (name !== undefined && data !== undefined) events.push({ event: name, data: JSON.parse(data) });
          end = buffer.indexOf('\n\n');
        }
        for (const w of waiters.splice(0)) w();
      });
      const ended = new Promise<void>((r) => res.once('close', () => r()));
      const next = (match: (e: SseEvent) => boolean, what: string, timeoutMs = 10_000): Promise<SseEvent> =>
        new Promise((ok, fail) => {
          const timer = setTimeout(() => fail(new Error(`no SSE event: ${what} (got ${events.map((e) => e.event).join(', ')})`)), timeoutMs);
          const look = (): void => {
            const found = events.find(match);
            if (found !== undefined) {
              clearTimeout(timer);
              ok(found);
            } else waiters.push(look);
          };
          look();
        });
      resolve({ status: res.statusCode ?? 0, events, raw: () => raw, next, ended, close: () => req.destroy() });
    });
    req.on('error', reject);
  });
}

export function get(
  port: number,
  path: string,
  options: { method?: string; headers?: Record<string, string> } = {},
): Promise<{ status: number; headers: http.IncomingHttpHeaders; body: string }> {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, path, method: options.method ?? 'GET', headers: options.headers }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
    });
    req.on('error', reject);
    req.end();
  });
}
