/**
 * The networks of the machine the lab runs on: the addresses of its interfaces and the
 * destinations of its routes (every table, both families), read from its own namespace with
 * `ip -j`. Reading only: the lab never changes the machine's namespace.
 */
import { exec } from '../os/mod.ts';
import { addressNetworks, routeNetworks, type UsedNetwork } from './ranges.ts';

/** Every network this machine's own namespace has an address in or a route to (default routes left out). */
export async function readMachineNetworks(): Promise<UsedNetwork[]> {
  const [addresses, routes4, routes6] = await Promise.all([
    exec('ip', ['-j', 'addr', 'show']),
    exec('ip', ['-4', '-j', 'route', 'show', 'table', 'all']),
    // A machine without IPv6 answers with an error here: it has no IPv6 routes.
    exec('ip', ['-6', '-j', 'route', 'show', 'table', 'all'], { allowFail: true }),
  ]);
  return [...addressNetworks(addresses.stdout), ...routeNetworks(routes4.stdout), ...(routes6.code === 0 ? routeNetworks(routes6.stdout) : [])];
}
