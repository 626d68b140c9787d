// Drives test/fixtures/host/child.cjs: one child process holding a HostLedger, commanded over IPC.
import { fork, type ChildProcess } from 'node:child_process';
import * as path from 'node:path';

export const FIXTURES = path.resolve(__dirname, '../fixtures/host');

export interface ChildReply {
  id: number;
  ok: boolean;
  code?: string;
  error?: string;
  fence?: number;
  t?: string;
  token?: string;
  pid?: number;
  violations?: number;
}

/** Unsolicited messages from the child (e.g. a grant's `lost` firing). */
export interface ChildEvent {
  event: string;
  key?: string | number;
  code?: string;
  reason?: string;
}

export class HostChild {
  readonly proc: ChildProcess;
  readonly ready: Promise<void>;
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  readonly events: ChildEvent[] = [];
  #next = 1;
  #waiting = new Map<number, (r: ChildReply) => void>();

  constructor(script = 'child.cjs', args: string[] = []) {
    this.proc = fork(path.join(FIXTURES, script), args, { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    this.ready = new Promise((resolve) => {
      this.proc.on('message', (m: { ready?: boolean; id?: number; event?: string }) => {
        if (m.ready) resolve();
        else if (m.event !== undefined) this.events.push(m as ChildEvent);
        else if (m.id !== undefined) {
          const cb = this.#waiting.get(m.id);
          this.#waiting.delete(m.id);
          cb?.(m as ChildReply);
        }
      });
    });
    this.exited = new Promise((resolve) => this.proc.on('exit', (code, signal) => resolve({ code, signal })));
  }

  get pid(): number {
    return this.proc.pid as number;
  }

  /** Sends a command; resolves with its reply (for acquire: once granted or failed). */
  send(cmd: Record<string, unknown>): Promise<ChildReply> {
    const id = this.#next++;
    return new Promise((resolve) => {
      this.#waiting.set(id, resolve);
      this.proc.send({ id, ...cmd });
    });
  }

  async open(ns: string, resources: Record<string, number>): Promise<void> {
    await this.ready;
    const r = await this.send({ cmd: 'open', ns, resources });
    if (!r.ok) throw new Error(`child open failed: ${r.error}`);
  }

  kill(signal: NodeJS.Signals = 'SIGKILL'): void {
    if (this.proc.exitCode === null && this.proc.signalCode === null) this.proc.kill(signal);
  }
}
