// One page's server-sent-events stream. The server pushes; the page never polls (EventSource
// reconnects by itself after `retry`). A page that cannot keep up (a background tab, a slow link)
// misses frames rather than growing this process's memory: each frame replaces the last, so only
// the newest matters; past a hard limit the stream is ended and the browser reconnects afresh.
import type { ServerResponse } from 'node:http';

// Frames are dropped while this much is still unsent, and the stream ended past HARD_LIMIT.
const SOFT_LIMIT = 1024 * 1024;
const HARD_LIMIT = 8 * 1024 * 1024;

export class SseClient {
  readonly #res: ServerResponse;
  #open = true;

  constructor(res: ServerResponse) {
    this.#res = res;
    res.writeHead(200, {
      'content-type': 'text/event-stream; charset=utf-8',
      'cache-control': 'no-store',
      connection: 'keep-alive',
      // Proxies such as nginx buffer responses unless told not to; a buffered stream is not live.
      'x-accel-buffering': 'no',
    });
    res.write('retry: 2000\n\n');
    res.on('close', () => {
      this.#open = false;
    });
  }

  get open(): boolean {
    return this.#open;
  }

  /** Sends one event; `data` is one line of JSON. A droppable event is skipped while the page is behind. */
  send(event: string, data: string, droppable: boolean): void {
    if (!this.#open) return;
    const behind = this.#res.writableLength;
    if (behind > HARD_LIMIT) {
      this.end();
      return;
    }
    if (droppable && behind > SOFT_LIMIT) return;
    this.#res.write(`event: ${event}\ndata: ${data}\n\n`);
  }

  /** A comment line: keeps idle proxies and load balancers from closing the stream. */
  ping(): void {
    if (this.#open) this.#res.write(': ping\n\n');
  }

  end(): void {
    if (!this.#open) return;
    this.#open = false;
    this.#res.end();
  }
}
