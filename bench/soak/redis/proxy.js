'use strict';
// A loopback TCP proxy in front of Redis for one worker (after test/helpers/tcp-proxy.ts):
// black-holed, it drops bytes both ways while the connections stay open (Redis seems to hang
// for that worker only); healed, it cuts those connections and lets new ones through.
const net = require('node:net');

class BlackholeProxy {
  static async start(targetPort) {
    const p = new BlackholeProxy(targetPort);
    await new Promise((r) => p.server.listen(0, '127.0.0.1', r));
    p.port = p.server.address().port;
    return p;
  }

  constructor(targetPort) {
    this.blackholed = false;
    this.sockets = new Set();
    this.server = net.createServer((client) => {
      const upstream = net.connect(targetPort, '127.0.0.1');
      for (const s of [client, upstream]) {
        this.sockets.add(s);
        s.on('close', () => this.sockets.delete(s));
        s.on('error', () => undefined);
      }
      client.on('data', (d) => this.blackholed || upstream.write(d));
      upstream.on('data', (d) => this.blackholed || client.write(d));
      client.on('close', () => upstream.destroy());
      upstream.on('close', () => client.destroy());
    });
  }

  get url() {
    return `redis://127.0.0.1:${this.port}`;
  }

  blackhole() {
    this.blackholed = true;
  }

  heal() {
    for (const s of this.sockets) s.destroy();
    this.blackholed = false;
  }

  async stop() {
    for (const s of this.sockets) s.destroy();
    await new Promise((r) => this.server.close(r));
  }
}

module.exports = { BlackholeProxy };
