/**
 * CommuniGate's "Allow Self-Poll" (off by default): polling one of our own POP3 listeners as a
 * "remote" account creates a mail loop. The remote host is resolved and compared with the
 * addresses and ports mailnode listens on; a listener on a wildcard address matches every
 * address of this machine.
 */
import { lookup } from 'node:dns/promises';
import { networkInterfaces } from 'node:os';

export interface OwnListener {
  readonly address: string;
  readonly port: number;
}

/** Where mailnode itself listens: the running server's sockets, or the config's when none runs here. */
export type OwnListeners = () => readonly OwnListener[];

const WILDCARDS = new Set(['0.0.0.0', '::', '']);

/** A reason to refuse, or null when the endpoint is not one of ours. Unresolvable hosts are left to connect(). */
export async function selfPollProblem(host: string, port: number, listeners: readonly OwnListener[]): Promise<string | null> {
  const onPort = listeners.filter((listener) => listener.port === port);
  if (onPort.length === 0) return null;
  let addresses: string[];
  try {
    addresses = (await lookup(host, { all: true })).map((entry) => normalise(entry.address));
  } catch {
    return null;
  }
  const local = localAddresses();
  for (const address of addresses) {
    for (const listener of onPort) {
      // A wildcard listener answers on every local address, the whole of 127/8 included.
      const mine = WILDCARDS.has(listener.address) ? local.has(address) || address.startsWith('127.') : normalise(listener.address) === address;
      if (mine) {
        return `${host}:${port} (${address}) is mailnode's own POP3 listener: polling it would loop mail (allow_self_poll is off)`;
      }
    }
  }
  return null;
}

function localAddresses(): Set<string> {
  const out = new Set<string>(['127.0.0.1', '::1']);
  for (const entries of Object.values(networkInterfaces())) for (const entry of entries ?? []) out.add(normalise(entry.address));
  return out;
}

/** IPv4-mapped IPv6 (`::ffff:127.0.0.1`) compares as the IPv4 address. */
function normalise(address: string): string {
  const lower = address.toLowerCase();
  return lower.startsWith('::ffff:') && lower.includes('.') ? lower.slice(7) : lower;
}
