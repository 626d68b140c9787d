// Child processes running test/fixtures/redis/lease-client.cjs against the built package.
import { spawn, type ChildProcess } from 'node:child_process';
import * as path from 'node:path';

const FIXTURE = path.resolve(__dirname, '../fixtures/redis/lease-client.cjs');

export interface LeaseChild {
  proc: ChildProcess;
  stdout: string[];
  stderr: string;
  /** Resolves with the first stdout line matching `re` (rejects on exit or after timeoutMs). */
  line(re: RegExp, timeoutMs?: number): Promise<string>;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** Writes one line to the child's stdin. */
  send(line: string): void;
}

/** Spawns a fixture (default: lease-client.cjs) with its config; `send` writes a line to its stdin. */
export function spawnLeaseClient(config: Record<string, unknown>, fixture = FIXTURE): LeaseChild {
  const proc = spawn(process.execPath, [fixture, JSON.stringify(config)], { stdio: ['pipe', 'pipe', 'pipe'] });
  const child: LeaseChild = {
    proc,
    stdout: [],
    stderr: '',
    exited: new Promise((resolve) => proc.once('exit', (code, signal) => resolve({ code, signal }))),
    send(line) {
      proc.stdin?.write(`${line}\n`);
    },
    line(re, timeoutMs = 15_000) {
      return new Promise((resolve, reject) => {
        const found = child.stdout.find((l) => re.test(l));
        if (found) return resolve(found);
        const timer = setTimeout(() => {
          cleanup();
          reject(new Error(`child ${proc.pid}: no line matching ${re} within ${timeoutMs} ms; stderr: ${child.stderr}`));
        }, timeoutMs);
        const onLine = (l: string): void => {
          if (re.test(l)) {
            cleanup();
            resolve(l);
          }
        };
        const onExit = (): void => {
          cleanup();
          reject(new Error(`child ${proc.pid} exited before printing ${re}; stderr: ${child.stderr}`));
        };
        const cleanup = (): void => {
          clearTimeout(timer);
          lineListeners.delete(onLine);
          proc.off('exit', onExit);
        };
        lineListeners.add(onLine);
        proc.once('exit', onExit);
      });
    },
  };
  const lineListeners = new Set<(l: string) => void>();
  let buf = '';
  proc.stdout?.setEncoding('utf8').on('data', (d: string) => {
    buf += d;
    for (let i = buf.indexOf('\n'); i >= 0; i = buf.indexOf('\n')) {
      const l = buf.slice(0, i);
      buf = buf.slice(i + 1);
      child.stdout.push(l);
      for (const f of [...lineListeners]) f(l);
    }
  });
  proc.stderr?.setEncoding('utf8').on('data', (d: string) => {
    child.stderr += d;
  });
  return child;
}

/** Kills every child still running (afterEach/afterAll). */
export function killAll(children: LeaseChild[]): void {
  for (const c of children) if (c.proc.exitCode === null && c.proc.signalCode === null) c.proc.kill('SIGKILL');
  children.length = 0;
}
