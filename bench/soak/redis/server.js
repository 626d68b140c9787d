'use strict';
// A redis-server for the soak (after test/helpers/redis-server.ts): loopback, no persistence,
// DEBUG allowed (Redis 7 needs enable-debug-command), restartable on the same port with its data
// lost, stallable with DEBUG SLEEP.
const { spawn, spawnSync } = require('node:child_process');
const fs = require('node:fs');
const net = require('node:net');
const os = require('node:os');
const path = require('node:path');
const { setTimeout: sleep } = require('node:timers/promises');

const REDIS_SERVER = process.env.REDIS_SERVER ?? 'redis-server';
const REDIS_CLI = process.env.REDIS_CLI ?? 'redis-cli';

function hasRedis() {
  return !spawnSync(REDIS_SERVER, ['--version'], { stdio: 'ignore' }).error && !spawnSync(REDIS_CLI, ['--version'], { stdio: 'ignore' }).error;
}

function freePort() {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

function debugArgs() {
  const m = /v=(\d+)\./.exec(spawnSync(REDIS_SERVER, ['--version'], { encoding: 'utf8' }).stdout ?? '');
  return m && Number(m[1]) >= 7 ? ['--enable-debug-command', 'local'] : [];
}

class SoakRedis {
  static async start() {
    const s = new SoakRedis(await freePort(), fs.mkdtempSync(path.join(os.tmpdir(), 'gpa-soak-redis-')));
    await s.launch();
    return s;
  }

  constructor(port, dir) {
    this.port = port;
    this.dir = dir;
    this.proc = null;
  }

  get url() {
    return `redis://127.0.0.1:${this.port}`;
  }

  cli(...args) {
    return spawnSync(REDIS_CLI, ['-p', String(this.port), ...args], { encoding: 'utf8', timeout: 10_000 }).stdout ?? '';
  }

  async launch() {
    const args = ['--port', String(this.port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', this.dir, ...debugArgs()];
    this.proc = spawn(REDIS_SERVER, args, { stdio: 'ignore' });
    const deadline = Date.now() + 10_000;
    while (!this.cli('PING').includes('PONG')) {
      if (Date.now() > deadline) throw new Error(`redis-server did not answer on port ${this.port}`);
      await sleep(20);
    }
  }

  async kill() {
    const proc = this.proc;
    if (proc === null || proc.exitCode !== null || proc.signalCode !== null) return;
    const exited = new Promise((r) => proc.once('exit', r));
    proc.kill('SIGKILL');
    await exited;
  }

  /** SIGKILL and start again on the same port: every key is gone (no persistence). */
  async restart() {
    await this.kill();
    await this.launch();
  }

  /** Stalls the server for `seconds` (DEBUG SLEEP, sent by redis-cli; resolves when it ends). */
  stall(seconds) {
    return new Promise((resolve) => {
      const p = spawn(REDIS_CLI, ['-p', String(this.port), 'DEBUG', 'SLEEP', String(seconds)], { stdio: 'ignore' });
      p.on('exit', resolve);
      p.on('error', resolve);
    });
  }

  async stop() {
    await this.kill();
    fs.rmSync(this.dir, { recursive: true, force: true });
  }
}

module.exports = { SoakRedis, hasRedis };
