// A loopback TCP proxy in front of Redis that a test can black-hole (bytes are dropped both
// ways while connections stay open: Redis seems to hang) and heal (those connections are cut,
// new ones pass), to make Redis unreachable for one client while it stays up for others.
import * as net from 'node:net';

export class TcpProxy {
  private blackholed = false;
  private readonly sockets = new Set<net.Socket>();

  private constructor(
    private readonly server: net.Server,
    readonly port: number,
  ) {}

  static async start(targetPort: number): Promise<TcpProxy> {
    let proxy: TcpProxy | undefined;
    const server = net.createServer((client) => {
      const upstream = net.connect(targetPort, '127.0.0.1');
      for (const s of [client, upstream]) {
        proxy!.sockets.add(s);
        s.on('close', () => proxy!.sockets.delete(s));
        s.on('error', () => undefined);
      }
      client.on('data', (d) => {
        if (!proxy!.blackholed) upstream.write(d);
      });
      upstream.on('data', (d) => {
        if (!proxy!.blackholed) client.write(d);
      });
      client.on('close', () => upstream.destroy());
      upstream.on('close', () => client.destroy());
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
    proxy = new TcpProxy(server, (server.address() as net.AddressInfo).port);
    return proxy;
  }

  get url(): string {
    return `redis://127.0.0.1:${this.port}`;
  }

  blackhole(): void {
    this.blackholed = true;
  }

  /** Cuts the black-holed connections (their byte streams are broken) and lets new ones through. */
  heal(): void {
    for (const s of this.sockets) s.destroy();
    this.blackholed = false;
  }

  async stop(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    await new Promise<void>((r) => this.server.close(() => r()));
  }
}
