// Attributes GPU processes to the holder that started them. A lease names one pid (the process
// expected to use the VRAM), but GPU programs fork: a Python server's workers, a shell script's
// ffmpeg, the program `gpu-arbiter exec` starts. NVML lists the process that allocated, so a
// descendant of a holder would otherwise count as outside use on top of the holder's declared
// VRAM. Linux only: the parent of each process comes from /proc/<pid>/stat; where that cannot be
// read (another PID namespace, the process gone) nothing is attributed.
import * as fs from 'node:fs';
import type { GpuDevice, GpuProcess } from '../gpu/types';

/** How far up the tree a process is followed to find a holder. */
const MAX_DEPTH = 16;

/** The parent pid of `pid`, or null when /proc does not say. */
function parentOf(pid: number): number | null {
  let stat: string;
  try {
    stat = fs.readFileSync(`/proc/${pid}/stat`, 'latin1');
  } catch {
    return null;
  }
  // "pid (comm) state ppid ...": comm may hold spaces and parentheses, so split after the last ')'.
  const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const ppid = Number(rest[1]);
  return Number.isInteger(ppid) && ppid > 0 ? ppid : null;
}

/**
 * The device with each process that descends from a holder pid listed under that holder's pid
 * (usage of several merged). Returns `gpu` itself when nothing changes (no allocation per sample
 * in the common case: holders are the processes NVML lists).
 */
export function attributeToHolders(gpu: GpuDevice, holderPids: ReadonlySet<number>): GpuDevice {
  const processes = gpu.processes;
  if (processes === null || processes.length === 0 || holderPids.size === 0) return gpu;
  let mapped: Map<number, number | null> | null = null;
  for (const p of processes) {
    if (holderPids.has(p.pid)) continue;
    const holder = holderAncestor(p.pid, holderPids);
    if (holder === null) continue;
    mapped ??= new Map();
    mapped.set(p.pid, holder);
  }
  if (mapped === null) return gpu;
  const merged = new Map<number, GpuProcess>();
  for (const p of processes) {
    const pid = mapped.get(p.pid) ?? p.pid;
    const prev = merged.get(pid);
    if (prev === undefined) merged.set(pid, { pid, usedBytes: p.usedBytes });
    else prev.usedBytes = prev.usedBytes === null || p.usedBytes === null ? null : prev.usedBytes + p.usedBytes;
  }
  return { ...gpu, processes: [...merged.values()] };
}

function holderAncestor(pid: number, holderPids: ReadonlySet<number>): number | null {
  let at: number | null = pid;
  for (let depth = 0; depth < MAX_DEPTH && at !== null && at > 1; depth++) {
    at = parentOf(at);
    if (at !== null && holderPids.has(at)) return at;
  }
  return null;
}
