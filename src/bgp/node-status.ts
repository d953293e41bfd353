/**
 * This host's BGP and BFD status, read from BIRD's control socket (what `margay node status`
 * prints and what {@link BgpController.status} returns).
 */
import { BirdConnection } from './bird-client.ts';
import { bgpPeers, type BfdSessionStatus, type BgpPeerStatus, parseBfdSessions, parseProtocols } from './bird-status.ts';

/** Everything `node status` shows. */
export interface NodeStatus {
  /** `BIRD 2.0.12`. */
  birdVersion: string;
  peers: BgpPeerStatus[];
  bfd: BfdSessionStatus[];
}

/** Reads the BGP and BFD status from a BIRD control socket. */
export async function readNodeStatus(socketPath: string, timeoutMs = 5000): Promise<NodeStatus> {
  const conn = await BirdConnection.open(socketPath, timeoutMs);
  try {
    const protocols = await conn.command('show protocols all', { timeoutMs });
    // A BIRD without a BFD protocol answers `show bfd sessions` with an error: no sessions.
    const bfd = await conn.command('show bfd sessions', { allowError: true, timeoutMs });
    return {
      birdVersion: conn.banner.replace(/ ready\.$/, ''),
      peers: bgpPeers(parseProtocols(protocols.text)),
      bfd: bfd.code >= 8000 ? [] : parseBfdSessions(bfd.text),
    };
  } finally {
    conn.close();
  }
}
