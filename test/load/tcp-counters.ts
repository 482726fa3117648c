/** Kernel TCP counters (Linux /proc/net/netstat) that explain connect delays under load. */
import { readFileSync } from 'node:fs';

/** TcpExt ListenOverflows: connections dropped because a listen (accept) queue was full. Machine-wide; -1 if unreadable. */
export function listenOverflows(): number {
  try {
    const lines = readFileSync('/proc/net/netstat', 'utf8').split('\n').filter((line) => line.startsWith('TcpExt:'));
    const names = lines[0]!.trim().split(/\s+/);
    const values = lines[1]!.trim().split(/\s+/);
    const at = names.indexOf('ListenOverflows');
    return at < 0 ? -1 : Number(values[at]);
  } catch {
    return -1;
  }
}
