'use strict';
// The runner's worker processes: N slots, each running one worker process at a time. The
// runner is the controller: it alone sends SIGKILL / SIGSTOP / SIGCONT, and notes the time
// (CLOCK_MONOTONIC, as the workers' records) just before each signal, so the detector knows
// until when a killed worker's open hold counts and when a stopped one stopped acting.
const { fork } = require('node:child_process');
const path = require('node:path');

const now = () => Number(process.hrtime.bigint());

class WorkerPool {
  /**
   * @param {{ script: string, slots: number, dir: string, config: (slot: number) => object }} o
   */
  constructor(o) {
    this.o = o;
    this.instances = [];
    this.current = new Array(o.slots).fill(null);
    this.progress = 0;
    this.finishing = false;
    this.failures = [];
  }

  start() {
    for (let s = 0; s < this.o.slots; s++) this.spawn(s);
  }

  spawn(slot) {
    const id = this.instances.length;
    const file = path.join(this.o.dir, `worker-${slot}-${id}.log`);
    const config = { ...this.o.config(slot), slot, file };
    const child = fork(this.o.script, [JSON.stringify(config)], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    const inst = { slot, id, pid: child.pid, file, child, ready: false, exit: null, killedAt: null, stops: [], stopped: false };
    this.instances.push(inst);
    this.current[slot] = inst;
    child.on('message', (m) => {
      if (m && m.done) this.progress += m.done;
      if (m && m.ready) inst.ready = true;
    });
    child.on('error', (err) => this.failures.push(`worker ${slot}#${id}: ${err.message}`));
    child.on('exit', (code, signal) => {
      inst.exit = { code, signal };
      if (inst.killedAt !== null) {
        if (!this.finishing) this.spawn(slot);
      } else if (code !== 0) {
        this.failures.push(`worker ${slot}#${id} (pid ${inst.pid}) exited with ${signal ?? `code ${code}`} without being killed`);
      }
    });
    return inst;
  }

  /** Slots whose worker runs (started, not stopped, not being killed). */
  running() {
    return this.current.filter((i) => i !== null && i.ready && i.exit === null && i.killedAt === null && !i.stopped);
  }

  byPid(pid) {
    return this.instances.find((i) => i.pid === pid && i.exit === null && i.killedAt === null);
  }

  kill(inst) {
    inst.killedAt = now();
    inst.child.kill('SIGKILL');
  }

  /** SIGSTOP for `ms`, then SIGCONT; returns the stop record { stop, cont }. */
  pause(inst, ms) {
    const rec = { stop: now(), cont: null, ms };
    inst.stops.push(rec);
    inst.stopped = true;
    inst.child.kill('SIGSTOP');
    inst.contTimer = setTimeout(() => this.resume(inst), ms);
    return rec;
  }

  resume(inst) {
    clearTimeout(inst.contTimer);
    if (!inst.stopped) return;
    const rec = inst.stops[inst.stops.length - 1];
    rec.cont = now();
    inst.stopped = false;
    if (inst.exit === null) inst.child.kill('SIGCONT');
  }

  /** Resumes every stopped worker, asks each to finish, waits for all to exit (or kills them). */
  async finish(timeoutMs = 60_000) {
    this.finishing = true;
    for (const inst of this.instances) if (inst.stopped) this.resume(inst);
    const live = this.instances.filter((i) => i.exit === null);
    const exited = live.map((i) => new Promise((r) => (i.exit !== null ? r() : i.child.once('exit', r))));
    for (const i of live) if (i.killedAt === null && i.child.connected) i.child.send('stop');
    const timer = setTimeout(() => {
      for (const i of live) {
        if (i.exit === null) {
          this.failures.push(`worker ${i.slot}#${i.id} (pid ${i.pid}) did not finish within ${timeoutMs} ms`);
          i.child.kill('SIGKILL');
        }
      }
    }, timeoutMs);
    await Promise.all(exited);
    clearTimeout(timer);
  }
}

module.exports = { WorkerPool, now };
