// Real redis-server processes for the Redis suites: one server on a free loopback port, or a
// 3-master Redis Cluster on three. No persistence (--save '' --appendonly no); every file lives
// in a temporary directory removed by stop().
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';

const REDIS_SERVER = process.env.REDIS_SERVER ?? 'redis-server';
const REDIS_CLI = process.env.REDIS_CLI ?? 'redis-cli';

async function portFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const srv = net.createServer();
    srv.once('error', () => resolve(false));
    srv.listen(port, '127.0.0.1', () => srv.close(() => resolve(true)));
  });
}

/** A free loopback port; with `bus`, port + 10000 (the cluster bus) is free too. */
export async function freePort(bus = false): Promise<number> {
  for (let i = 0; i < 200; i++) {
    const port = 20_000 + Math.floor(Math.random() * 30_000);
    if ((await portFree(port)) && (!bus || (await portFree(port + 10_000)))) return port;
  }
  throw new Error('no free port found');
}

function cli(port: number, ...args: string[]): string {
  return cliAuth(port, undefined, ...args);
}

function cliAuth(port: number, password: string | undefined, ...args: string[]): string {
  const auth = password === undefined ? [] : ['-a', password, '--no-auth-warning'];
  const res = spawnSync(REDIS_CLI, ['-h', '127.0.0.1', '-p', String(port), ...auth, ...args], { encoding: 'utf8', timeout: 10_000 });
  return `${res.stdout ?? ''}${res.stderr ?? ''}`;
}

async function waitUntil(check: () => boolean, what: string, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/**
 * The arguments that let a test stall the server with DEBUG SLEEP: Redis 7 refuses DEBUG unless
 * `enable-debug-command` allows it; older servers allow it and do not know the option.
 */
export function debugCommandArgs(): string[] {
  const m = /v=(\d+)\./.exec(spawnSync(REDIS_SERVER, ['--version'], { encoding: 'utf8' }).stdout ?? '');
  return m && Number(m[1]) >= 7 ? ['--enable-debug-command', 'local'] : [];
}

export class RedisServer {
  private proc: ChildProcess | undefined;

  private constructor(
    readonly port: number,
    readonly dir: string,
    private readonly extraArgs: string[],
  ) {}

  /** The server's password (`--requirepass` among the extra arguments), if any. */
  get password(): string | undefined {
    const i = this.extraArgs.indexOf('--requirepass');
    return i >= 0 ? this.extraArgs[i + 1] : undefined;
  }

  /** Starts redis-server on a free loopback port and waits until it answers PING (with its password, if any). */
  static async start(extraArgs: string[] = [], port?: number): Promise<RedisServer> {
    const p = port ?? (await freePort(extraArgs.includes('--cluster-enabled')));
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'gpa-redis-'));
    const server = new RedisServer(p, dir, extraArgs);
    await server.launch();
    return server;
  }

  get url(): string {
    return `redis://127.0.0.1:${this.port}`;
  }

  get running(): boolean {
    return this.proc !== undefined && this.proc.exitCode === null && this.proc.signalCode === null;
  }

  private async launch(): Promise<void> {
    this.proc = spawn(
      REDIS_SERVER,
      ['--port', String(this.port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', this.dir, ...this.extraArgs],
      { stdio: 'ignore' },
    );
    await waitUntil(() => this.cli('PING').includes('PONG'), `redis-server on port ${this.port}`);
  }

  /** redis-cli against this server (with its password, if any); returns its output. */
  cli(...args: string[]): string {
    return cliAuth(this.port, this.password, ...args);
  }

  /** Stops the server (SIGKILL: as abrupt as a crash) and waits for the port to close. */
  async kill(): Promise<void> {
    const proc = this.proc;
    if (!proc || !this.running) return;
    const exited = new Promise((r) => proc.once('exit', r));
    proc.kill('SIGKILL');
    await exited;
    this.proc = undefined;
  }

  /** Starts it again on the same port (empty: no persistence). */
  async restart(): Promise<void> {
    await this.kill();
    await this.launch();
  }

  async stop(): Promise<void> {
    await this.kill();
    fs.rmSync(this.dir, { recursive: true, force: true });
  }
}

export class RedisClusterFixture {
  private constructor(readonly nodes: RedisServer[]) {}

  /** Three masters on free ports, slots split by redis-cli --cluster create; waits for cluster_state:ok. */
  static async start(): Promise<RedisClusterFixture> {
    const nodes: RedisServer[] = [];
    try {
      for (let i = 0; i < 3; i++) {
        nodes.push(await RedisServer.start(['--cluster-enabled', 'yes', '--cluster-config-file', 'nodes.conf', '--cluster-node-timeout', '2000']));
      }
      const res = spawnSync(REDIS_CLI, ['--cluster', 'create', ...nodes.map((n) => `127.0.0.1:${n.port}`), '--cluster-replicas', '0', '--cluster-yes'], {
        encoding: 'utf8',
        timeout: 30_000,
      });
      if (res.status !== 0) throw new Error(`redis-cli --cluster create failed: ${res.stdout}${res.stderr}`);
      await waitUntil(() => nodes.every((n) => n.cli('CLUSTER', 'INFO').includes('cluster_state:ok')), 'cluster_state:ok on every node', 20_000);
      return new RedisClusterFixture(nodes);
    } catch (err) {
      for (const n of nodes) await n.stop();
      throw err;
    }
  }

  get seeds(): Array<{ host: string; port: number }> {
    return this.nodes.map((n) => ({ host: '127.0.0.1', port: n.port }));
  }

  async stop(): Promise<void> {
    for (const n of this.nodes) await n.stop();
  }
}

/** Sums a counter of INFO commandstats (e.g. 'evalsha', 'eval', 'publish') over servers. */
export function commandCalls(servers: RedisServer[], command: string): number {
  let total = 0;
  for (const s of servers) {
    const m = new RegExp(`cmdstat_${command}:calls=(\\d+)`).exec(s.cli('INFO', 'commandstats'));
    if (m) total += Number(m[1]);
  }
  return total;
}

/** A Sentinel watching `master` as "mymaster" (quorum 1). */
export class RedisSentinelFixture {
  private constructor(
    private readonly proc: ChildProcess,
    readonly port: number,
    readonly dir: string,
  ) {}

  static async start(master: RedisServer, name = 'mymaster'): Promise<RedisSentinelFixture> {
    const port = await freePort();
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'gpa-sentinel-'));
    const conf = path.join(dir, 'sentinel.conf');
    fs.writeFileSync(
      conf,
      [
        `port ${port}`,
        'bind 127.0.0.1',
        `dir ${dir}`,
        `sentinel monitor ${name} 127.0.0.1 ${master.port} 1`,
        `sentinel down-after-milliseconds ${name} 5000`,
        '',
      ].join('\n'),
    );
    const proc = spawn(REDIS_SERVER, [conf, '--sentinel'], { stdio: 'ignore' });
    const fixture = new RedisSentinelFixture(proc, port, dir);
    await waitUntil(() => cli(port, 'SENTINEL', 'get-master-addr-by-name', name).includes(String(master.port)), 'sentinel up');
    return fixture;
  }

  async stop(): Promise<void> {
    if (this.proc.exitCode === null && this.proc.signalCode === null) {
      const exited = new Promise((r) => this.proc.once('exit', r));
      this.proc.kill('SIGKILL');
      await exited;
    }
    fs.rmSync(this.dir, { recursive: true, force: true });
  }
}
