/** Free TCP ports on the loopback address, found by letting the kernel pick them. */
import { createServer, type Server } from 'node:net';

/**
 * Returns `count` distinct free TCP ports on 127.0.0.1. The ports are held open together while
 * they are chosen (so they differ), then released for the caller to bind.
 */
export async function freePorts(count: number): Promise<number[]> {
  const servers: Server[] = [];
  try {
    const ports: number[] = [];
    for (let i = 0; i < count; i++) {
      const server = createServer();
      servers.push(server);
      await new Promise<void>((resolve, reject) => {
        server.once('error', reject);
        server.listen(0, '127.0.0.1', () => resolve());
      });
      const addr = server.address();
      if (addr === null || typeof addr === 'string') throw new Error('could not read the bound port');
      ports.push(addr.port);
    }
    return ports;
  } finally {
    await Promise.all(servers.map((s) => new Promise<void>((resolve) => s.close(() => resolve()))));
  }
}
