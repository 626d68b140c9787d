// The live part of a dashboard: reads its source once a tick (a chart point each time) and soon
// after a change the source reports (a grant, a release: no chart point, so the charts keep an
// even step), and fans each frame out to every open page as one serialised SSE event.
import type { ServerResponse } from 'node:http';
import { ChartHistory } from './history';
import { SseClient } from './sse';
import type { ChartPoint, DashboardAlert, DashboardFrame, DashboardSource } from './types';

export interface HubOptions {
  intervalMs: number;
  historyMs: number;
  /** Window of the wait-p95 line. @default 30000 */
  waitWindowMs?: number;
  /** Pages at once; more are refused (503) so a reload loop cannot pile streams up. @default 64 */
  maxClients?: number;
}

// A burst of grants and releases becomes one frame per this many ms.
const COALESCE_MS = 100;
const PING_MS = 15_000;
const KEEP_ALERTS = 50;

export class DashboardHub {
  readonly #source: DashboardSource;
  readonly #history: ChartHistory;
  readonly #clients = new Set<SseClient>();
  readonly #alerts: DashboardAlert[] = [];
  readonly #maxClients: number;
  readonly #timers: NodeJS.Timeout[] = [];
  #unsubscribe: (() => void) | null = null;
  #last: DashboardFrame | null = null;
  #first: Promise<void>;
  #soon: NodeJS.Timeout | null = null;
  #busy: Promise<void> | null = null;
  #pending: boolean | null = null;
  #closed = false;

  constructor(source: DashboardSource, options: HubOptions) {
    this.#source = source;
    this.#history = new ChartHistory(options.historyMs, options.waitWindowMs ?? 30_000);
    this.#maxClients = options.maxClients ?? 64;
    this.#unsubscribe =
      source.subscribe?.(
        () => this.#changed(),
        (a) => this.#alert(a),
      ) ?? null;
    // Timers are unref'd: a dashboard mounted in an app never keeps that app alive.
    const tick = setInterval(() => void this.#read(true), options.intervalMs);
    const ping = setInterval(() => {
      for (const c of this.#clients) c.ping();
    }, PING_MS);
    tick.unref();
    ping.unref();
    this.#timers.push(tick, ping);
    this.#first = this.#read(true);
  }

  /** Opens an SSE stream on `res`: a `hello` (frame, chart history, recent alerts), then `frame` and `alert` events. */
  async attach(res: ServerResponse): Promise<void> {
    if (this.#closed || this.#clients.size >= this.#maxClients) {
      res.writeHead(503, { 'content-type': 'text/plain; charset=utf-8', 'retry-after': '5' });
      res.end(this.#closed ? 'The dashboard is closed\n' : `Too many open dashboards (${this.#maxClients})\n`);
      return;
    }
    await this.#first;
    const client = new SseClient(res);
    this.#clients.add(client);
    res.on('close', () => this.#clients.delete(client));
    client.send(
      'hello',
      JSON.stringify({ frame: this.#last, history: this.#history.points(), historyMs: this.#history.historyMs, alerts: this.#alerts }),
      false,
    );
  }

  /** The newest frame and chart points (GET state.json). */
  async state(): Promise<{ frame: DashboardFrame | null; history: ChartPoint[]; alerts: DashboardAlert[] }> {
    await this.#first;
    return { frame: this.#last, history: this.#history.points(), alerts: [...this.#alerts] };
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    for (const t of this.#timers) clearInterval(t);
    if (this.#soon !== null) clearTimeout(this.#soon);
    this.#unsubscribe?.();
    for (const c of this.#clients) c.end();
    this.#clients.clear();
    await this.#busy;
    await this.#source.close?.();
  }

  #changed(): void {
    if (this.#soon !== null || this.#closed) return;
    this.#soon = setTimeout(() => {
      this.#soon = null;
      void this.#read(false);
    }, COALESCE_MS);
    this.#soon.unref();
  }

  #alert(a: DashboardAlert): void {
    this.#alerts.push(a);
    if (this.#alerts.length > KEEP_ALERTS) this.#alerts.shift();
    this.#broadcast('alert', JSON.stringify(a), false);
  }

  // One read at a time: a slow source (Redis) must not answer two reads out of order, and reads
  // asked for meanwhile collapse into one (a tick among them still adds its chart point).
  #read(tick: boolean): Promise<void> {
    if (this.#busy !== null) {
      this.#pending = (this.#pending ?? false) || tick;
      return this.#busy;
    }
    const run = async (): Promise<void> => {
      let next: boolean | null = tick;
      while (next !== null && !this.#closed) {
        this.#pending = null;
        await this.#readNow(next);
        next = this.#pending;
      }
    };
    const busy = run().finally(() => {
      this.#busy = null;
    });
    this.#busy = busy;
    return busy;
  }

  async #readNow(tick: boolean): Promise<void> {
    let frame: DashboardFrame;
    try {
      frame = await this.#source.frame();
    } catch (err) {
      // Keep the last GPUs on screen and say why they are not fresh.
      const why = `could not read: ${(err as Error)?.message ?? String(err)}`;
      frame = { ...(this.#last ?? { title: 'gpu-arbiter dashboard', source: 'unknown', gpus: [], health: null }), t: Date.now(), notes: [why] };
    }
    if (this.#closed) return;
    this.#last = frame;
    const point = tick ? this.#history.add(frame, this.#source.takeGrants()) : null;
    this.#broadcast('frame', JSON.stringify({ frame, point }), true);
  }

  #broadcast(event: string, data: string, droppable: boolean): void {
    for (const c of this.#clients) c.send(event, data, droppable);
  }
}
