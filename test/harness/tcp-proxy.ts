/**
 * A TCP proxy on loopback that a test can cut and heal, to simulate a network partition between
 * one client and a server (after etcd3's own test proxy: no tcpkill, no `ip link`). While cut,
 * open connections are reset and new ones are accepted and reset at once, so a client sees its
 * streams fail and its reconnects fail fast.
 */
import { createConnection, createServer, type Server, type Socket } from 'node:net';
import { registerCleanup } from './cleanup.ts';

/** A running proxy. */
export interface TcpProxy {
  /** The port clients connect to, on 127.0.0.1. */
  readonly port: number;
  /** `http://127.0.0.1:<port>`, convenient as an etcd endpoint. */
  readonly endpoint: string;
  readonly isCut: boolean;
  /** Resets every connection and refuses new ones until `heal()`. */
  cut(): void;
  heal(): void;
  close(): Promise<void>;
}

/** Starts a proxy from a free loopback port to `targetHost:targetPort`. */
export async function startTcpProxy(targetPort: number, targetHost = '127.0.0.1'): Promise<TcpProxy> {
  const sockets = new Set<Socket>();
  let cut = false;
  const server: Server = createServer((client) => {
    if (cut) {
      client.resetAndDestroy();
      return;
    }
    const upstream = createConnection({ host: targetHost, port: targetPort });
    sockets.add(client);
    sockets.add(upstream);
    const drop = (): void => {
      sockets.delete(client);
      sockets.delete(upstream);
      client.destroy();
      upstream.destroy();
    };
    client.on('error', drop).on('close', drop);
    upstream.on('error', drop).on('close', drop);
    client.pipe(upstream);
    upstream.pipe(client);
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const addr = server.address();
  if (addr === null || typeof addr === 'string') throw new Error('proxy: no port');
  const resetAll = (): void => {
    for (const s of sockets) s.resetAndDestroy();
    sockets.clear();
  };
  let closed: Promise<void> | undefined;
  const shutdown = (): Promise<void> =>
    (closed ??= new Promise<void>((resolve) => {
      server.close(() => resolve());
      resetAll();
    }));
  const unregister = registerCleanup(() => void shutdown());
  return {
    port: addr.port,
    endpoint: `http://127.0.0.1:${addr.port}`,
    get isCut() {
      return cut;
    },
    cut: () => {
      cut = true;
      resetAll();
    },
    heal: () => {
      cut = false;
    },
    close: async () => {
      unregister();
      await shutdown();
    },
  };
}
