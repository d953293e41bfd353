/**
 * Stale leases (pure). Neutron hands a deleted port's address to the next port, with another MAC;
 * dnsmasq still holds the old MAC's lease (86400 s) and then refuses the new VM ("not using
 * configured address … because it is leased to …"). Neutron's own DHCP agent releases the lease
 * when a port goes (`dhcp_release`); here the driver drops such leases from the lease file while
 * dnsmasq is stopped (dnsmasq keeps leases in memory and reads the file only at start).
 */

/** A lease-file line's MAC and address (`<expiry> <mac> <ip> <hostname> <client-id>`). */
function leaseOf(line: string): { mac: string; ip: string } | undefined {
  const [, mac, ip] = line.trim().split(/\s+/);
  return mac && ip ? { mac: mac.toLowerCase(), ip } : undefined;
}

/**
 * The lease file without the leases that conflict with the hosts file (`<mac>,<ip>,<name>` lines):
 * an address the hosts file gives to one MAC, leased to another. Returns `leases` itself (the same
 * string) when nothing conflicts.
 */
export function dropConflictingLeases(leases: string, hosts: string): string {
  const owner = new Map<string, string>();
  for (const line of hosts.split('\n')) {
    const [mac, ip] = line.split(',');
    if (mac && ip) owner.set(ip, mac.toLowerCase());
  }
  const lines = leases.split('\n');
  const kept = lines.filter((line) => {
    const lease = leaseOf(line);
    const want = lease && owner.get(lease.ip);
    return !(want !== undefined && want !== lease!.mac);
  });
  return kept.length === lines.length ? leases : kept.join('\n');
}
