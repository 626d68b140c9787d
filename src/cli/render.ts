// Text rendering of an ArbiterSnapshot: the one view `watch` and `demo` both draw, so what a user
// sees live is exactly what snapshot() returns.
import type { ArbiterSnapshot, DeviceView } from '../arbiter/snapshot';

export interface RenderOptions {
  /** Characters per VRAM bar. @default 40 */
  barWidth?: number;
  /** ANSI colours. @default false */
  color?: boolean;
  /** Most waiters listed per GPU. @default 8 */
  maxWaiters?: number;
  /** The per-task table. @default true */
  tasks?: boolean;
}

const ESC = '\u001b[';
const paint = (on: boolean, code: string, s: string): string => (on ? `${ESC}${code}m${s}${ESC}0m` : s);

const gib = (mib: number | null): string => (mib === null ? '?' : `${(mib / 1024).toFixed(1)}G`);
const pad = (s: string, n: number): string => (s.length >= n ? s.slice(0, n) : s + ' '.repeat(n - s.length));
const rpad = (s: string, n: number): string => (s.length >= n ? s : ' '.repeat(n - s.length) + s);
const secs = (ms: number): string => `${(ms / 1000).toFixed(1)}s`;

/**
 * A VRAM bar: declared by holders (#), used outside the ledger (=), free budget (.), and the
 * share kept back by maxFraction (space). Exported for tests.
 */
export function vramBar(d: DeviceView, width: number, color = false): string {
  if (d.totalMiB === null || d.totalMiB === 0 || d.capacityMiB === null) return pad(d.reason ?? 'unknown', width);
  const cells = (mib: number) => Math.max(0, Math.round((mib / d.totalMiB!) * width));
  const declared = Math.min(width, cells(d.declaredMiB));
  const outside = Math.min(width - declared, cells(d.unaccountedMiB));
  const usable = Math.min(width, cells(d.capacityMiB));
  const free = Math.max(0, usable - declared - outside);
  const reserve = Math.max(0, width - declared - outside - free);
  return paint(color, '32', '#'.repeat(declared)) + paint(color, '33', '='.repeat(outside)) + paint(color, '2', '.'.repeat(free)) + ' '.repeat(reserve);
}

/** Renders devices, holders, waiters and per-task counters as lines of text. */
export function renderSnapshot(s: ArbiterSnapshot, options: RenderOptions = {}): string {
  const width = options.barWidth ?? 40;
  const color = options.color ?? false;
  const maxWaiters = options.maxWaiters ?? 8;
  const out: string[] = [];
  out.push(
    `${paint(color, '1', 'gpu-arbiter')}  backend ${s.backend}  placement ${s.placement}  maxFraction ${s.maxFraction}  ${new Date(s.takenAt).toISOString()}`,
  );
  out.push('');
  if (s.devices.length === 0) {
    out.push(s.gpu.available ? '  no GPU (none found, or none of options.devices)' : `  no GPU: ${s.gpu.unavailableReason ?? 'NVML unavailable'}`);
  }
  for (const d of s.devices) {
    const state = d.usable ? '' : paint(color, '31', ` ${d.reason ?? 'unusable'}`);
    const util = d.utilizationPercent === null ? '  ?%' : rpad(`${d.utilizationPercent}%`, 4);
    out.push(
      `GPU ${d.index} ${pad(d.name ?? '', 18)} [${vramBar(d, width, color)}] ` +
        `declared ${gib(d.declaredMiB)} outside ${gib(d.unaccountedMiB)} budget ${gib(d.budgetMiB)} / ${gib(d.totalMiB)}  util ${util}${state}`,
    );
    for (const h of s.holders.filter((x) => x.device === d.index)) {
      const flags = [h.watchdogFired ? 'WATCHDOG' : '', h.overuse ? 'OVERUSE' : '', h.own ? '' : `pid ${h.pid}`].filter(Boolean).join(' ');
      const label = h.label === null ? '' : `  ${h.label}`;
      out.push(`    holds  ${pad(h.task, 16)} ${rpad(gib(h.vramMiB), 6)}  ${rpad(secs(h.heldMs), 7)}  #${h.fencingToken} ${flags}${label}`);
    }
    const q = s.queues.find((x) => x.device === d.index);
    for (const w of (q?.waiters ?? []).slice(0, maxWaiters)) {
      const left = w.remainingMs === null ? '' : `  gives up in ${secs(w.remainingMs)}`;
      const eta = w.etaMs === undefined || w.etaMs === null ? '' : `  #${w.position + 1} eta ~${secs(w.etaMs)}`;
      const label = w.label === null ? '' : `  ${w.label}`;
      out.push(`    waits  ${pad(w.task, 16)} ${rpad(gib(w.vramMiB), 6)}  ${rpad(secs(w.waitedMs), 7)}  prio ${w.priority}${eta}${left}${label}`);
    }
    const more = (q?.waiters.length ?? 0) - maxWaiters;
    if (more > 0) out.push(`    ... ${more} more waiting`);
  }
  if (options.tasks === false) return out.join('\n');
  out.push('');
  out.push(
    `${pad('task', 18)}${rpad('prio', 5)} ${pad('policy', 13)}${rpad('acquired', 9)}${rpad('skipped', 8)}${rpad('fell-back', 10)}${rpad('timeout', 8)}${rpad('busy', 5)}${rpad('watchdog', 9)}`,
  );
  for (const [task, p] of Object.entries(s.tasks)) {
    const c = s.counters.tasks[task];
    out.push(
      `${pad(task, 18)}${rpad(String(p.priority), 5)} ${pad(p.busyPolicy, 13)}${rpad(String(c?.acquired ?? 0), 9)}${rpad(String(c?.skipped ?? 0), 8)}` +
        `${rpad(String(c?.['fell-back'] ?? 0), 10)}${rpad(String(c?.timeout ?? 0), 8)}${rpad(String(c?.busy ?? 0), 5)}${rpad(String(c?.watchdog ?? 0), 9)}`,
    );
  }
  return out.join('\n');
}
