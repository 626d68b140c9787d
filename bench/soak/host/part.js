'use strict';
// Host part of the soak: 4 worker processes (./worker.js) hammer a capacity-1 resource and a
// VRAM semaphore of one host ledger while this process, the controller, SIGKILLs (and respawns)
// and SIGSTOPs (then SIGCONTs) random workers. Afterwards ./analyse.js checks what the workers
// recorded; the ledger is read only at the end, for leaks, through the public API.
const { fork } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { setTimeout: sleep } = require('node:timers/promises');
const { HostLedger, removeHostNamespace } = require('../../../dist');
const { WorkerPool, now } = require('../lib/pool');
const { analyseHost } = require('./analyse');

const MUTEX = 'soak-mutex';
const VRAM = 'soak-vram';

function settings(quick) {
  return quick
    ? { holds: 20_000, kills: 8, stops: 5, gapMs: [150, 450], stopMs: [200, 1800], maxMs: 45_000 }
    : { holds: 1_000_000, kills: 60, stops: 40, gapMs: [400, 1200], stopMs: [200, 2500], maxMs: 900_000 };
}

const between = ([lo, hi]) => lo + Math.floor(Math.random() * (hi - lo));

/** The status reader (./status-reader.js), restarted after each hang it reports. */
function startStatusReader(namespace, hangs, readerFailures) {
  let child;
  let reads = 0;
  let stopping = false;
  const spawnReader = () => {
    child = fork(path.join(__dirname, 'status-reader.js'), [namespace], { stdio: ['ignore', 'pipe', 'inherit', 'ipc'] });
    let out = '';
    child.stdout.on('data', (d) => (out += d));
    child.on('message', (m) => (reads += m.reads ?? 0));
    child.on('exit', (code, signal) => {
      if (out.includes('hang')) {
        // It held the ledger lock from about 3 s before its watchdog killed it.
        const end = now();
        hangs.push({ from: end - 3.2e9, to: end });
      } else if (!stopping) readerFailures.push(`the status reader exited with ${signal ?? code}`);
      if (!stopping) spawnReader();
    });
  };
  spawnReader();
  return {
    reads: () => reads,
    stop: async () => {
      if (stopping) return;
      stopping = true;
      if (child.exitCode !== null || child.signalCode !== null) return;
      const exited = new Promise((r) => child.once('exit', r));
      child.send('stop');
      await exited;
    },
  };
}

/**
 * A worker holding the capacity-1 resource for a while, read from the ledger to aim the chaos:
 * most holds last microseconds (gone before a signal lands), one in 256 a 5-15 ms timer, so the
 * controller polls (up to 500 ms) for a hold at least 2 ms old. Undefined if none shows up.
 */
async function mutexHolder(pool, ledger) {
  const until = Date.now() + 500;
  while (Date.now() < until) {
    let h;
    try {
      h = ledger.inspect().holders.find((x) => x.resource === MUTEX);
    } catch (err) {
      pool.failures.push(`controller: inspect failed: ${err.code} ${err.message}`);
      return undefined;
    }
    const inst = h && Date.now() - h.since.getTime() >= 2 ? pool.byPid(h.pid) : undefined;
    if (inst && pool.running().includes(inst)) return inst;
    await sleep(1);
  }
  return undefined;
}

function ledgerHolderPid(ledger) {
  try {
    return ledger.inspect().holders.find((x) => x.resource === MUTEX)?.pid;
  } catch {
    return undefined;
  }
}

async function runHostPart({ quick, log }) {
  const s = settings(quick);
  const namespace = `soak-${process.pid}-${Date.now().toString(36)}`;
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'gpa-soak-host-'));
  const cfg = { namespace, mutex: MUTEX, vram: VRAM, vramCapacity: 24_576, revokeAfterMs: 1000 };
  const pool = new WorkerPool({ script: path.join(__dirname, 'worker.js'), slots: 4, dir, config: () => cfg });
  const kills = [];
  const stops = [];
  const t0 = Date.now();
  // The controller's own handle (registered like any user): aims the chaos, reads leaks at the end.
  const ledger = await HostLedger.open({ namespace, resources: { [MUTEX]: 1, [VRAM]: cfg.vramCapacity } });
  const hangs = [];
  const readerFailures = [];
  const reader = startStatusReader(namespace, hangs, readerFailures);
  pool.start();
  try {
    while (pool.running().length < 4) {
      if (Date.now() - t0 > 30_000 || pool.failures.length > 0) throw new Error(`workers did not start: ${pool.failures.join('; ')}`);
      await sleep(20);
    }
    const started = Date.now();
    let lastReport = started;
    while (pool.progress < s.holds || kills.length < s.kills || stops.length < s.stops) {
      if (Date.now() - started > s.maxMs) throw new Error(`host soak did not finish in ${s.maxMs} ms (${pool.progress} holds)`);
      if (pool.failures.length > 0) break;
      await sleep(between(s.gapMs));
      if (Date.now() - lastReport > 10_000) {
        lastReport = Date.now();
        log(`host: ${pool.progress} holds, ${kills.length} kills, ${stops.length} stops`);
      }
      if (pool.running().length < 2) continue;
      const aimed = Math.random() < 0.85 ? await mutexHolder(pool, ledger) : undefined;
      const running = pool.running();
      if (running.length < 2) continue;
      const victim = aimed ?? running[Math.floor(Math.random() * running.length)];
      const wantKill = kills.length / Math.max(1, kills.length + stops.length) < s.kills / (s.kills + s.stops);
      if (wantKill) {
        // Read just before the signal (no await between): the ledger's holder of the
        // capacity-1 resource, seen or not yet seen by its process, is what a reclaim frees.
        const heldInLedger = ledgerHolderPid(ledger) === victim.pid;
        pool.kill(victim);
        kills.push({ inst: victim, aimed: aimed !== undefined, heldInLedger });
      } else if (!pool.instances.some((i) => i.stopped)) {
        const rec = pool.pause(victim, between(s.stopMs));
        stops.push({ inst: victim, rec, aimed: aimed !== undefined });
      }
    }
    await pool.finish();
    await reader.stop();
    const elapsedMs = Date.now() - started;
    const status = ledger.inspect();
    const result = analyseHost({ pool, kills, stops, status, cfg, elapsedMs, hangs });
    result.failures.push(...readerFailures);
    result.statusReads = reader.reads();
    return result;
  } finally {
    await reader.stop();
    await pool.finish(5_000);
    await ledger.close();
    try {
      removeHostNamespace(namespace);
    } catch {
      // Already gone (or never made): nothing to clean.
    }
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

module.exports = { runHostPart, MUTEX, VRAM };
