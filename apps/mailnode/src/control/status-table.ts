/** `mailnode status` as text: a header line, a table of retriever clients, a table of listeners. */
import type { ClientStatus } from '@mailnode/retriever';
import type { ListenerStatus } from '@mailnode/pop3-server';
import type { StatusResult } from './control-protocol.ts';

/** Error messages are cut to this many characters (the log has them whole). */
export const ERROR_WIDTH = 48;

export function formatStatus(status: StatusResult): string {
  const now = new Date(status.now);
  const lines = [`mailnode ${status.version}, pid ${status.pid}, up ${formatDuration(now.getTime() - Date.parse(status.startedAt))}, state dir ${status.stateDir}`, ''];
  if (status.clientsError) lines.push(`retriever clients: cannot report (${status.clientsError})`);
  else if (status.clients.length === 0) lines.push('retriever clients: none configured');
  else lines.push(...table(['CLIENT', 'STATE', 'SERVER', 'RECIPIENT', 'LAST SUCCESS', 'LAST ERROR', 'NEXT RUN', 'RUNS', 'FETCHED', 'BYTES', 'DUDS'], status.clients.map((client) => clientRow(client, now))));
  lines.push('');
  if (status.listeners.length === 0) lines.push('POP3 server: no listeners');
  else lines.push(...table(['LISTENER', 'SECURITY', 'SESSIONS'], status.listeners.map(listenerRow)));
  return `${lines.join('\n')}\n`;
}

function clientRow(client: ClientStatus, now: Date): string[] {
  const lastError = client.lastErrorAt ? `${formatTime(client.lastErrorAt, now)} ${truncate(client.lastError ?? '', ERROR_WIDTH)}` : '-';
  const state = client.state === 'paused' && client.pauseReason ? `paused (${client.pauseReason})` : client.state;
  const next = client.state === 'paused' && client.pausedUntil ? client.pausedUntil : client.nextRunAt;
  return [
    client.id,
    state,
    client.server,
    client.recip,
    client.lastSuccessAt ? formatTime(client.lastSuccessAt, now) : '-',
    lastError,
    next ? formatTime(next, now) : '-',
    String(client.totals.runs),
    String(client.totals.fetched),
    formatBytes(client.totals.bytes),
    String(client.duds),
  ];
}

function listenerRow(listener: ListenerStatus): string[] {
  const address = listener.address.includes(':') ? `[${listener.address}]` : listener.address;
  return [`${address}:${listener.port}`, listener.security, String(listener.sessions)];
}

/** Columns padded to their widest cell, two spaces apart; the last column is not padded. */
export function table(header: readonly string[], rows: readonly (readonly string[])[]): string[] {
  const widths = header.map((title, column) => Math.max(title.length, ...rows.map((row) => row[column]!.length)));
  const line = (cells: readonly string[]) =>
    cells
      .map((cell, column) => (column === cells.length - 1 ? cell : cell.padEnd(widths[column]!)))
      .join('  ')
      .trimEnd();
  return [line(header), ...rows.map(line)];
}

/** Local time: `HH:MM:SS` on the day of `now`, `YYYY-MM-DD HH:MM` otherwise. */
export function formatTime(iso: string, now: Date): string {
  const at = new Date(iso);
  if (Number.isNaN(at.getTime())) return iso;
  const two = (n: number) => String(n).padStart(2, '0');
  const date = `${at.getFullYear()}-${two(at.getMonth() + 1)}-${two(at.getDate())}`;
  const today = `${now.getFullYear()}-${two(now.getMonth() + 1)}-${two(now.getDate())}`;
  return date === today ? `${two(at.getHours())}:${two(at.getMinutes())}:${two(at.getSeconds())}` : `${date} ${two(at.getHours())}:${two(at.getMinutes())}`;
}

export function formatBytes(bytes: number): string {
  if (bytes < 1000) return `${bytes} B`;
  if (bytes < 1_000_000) return `${(bytes / 1000).toFixed(1)} kB`;
  if (bytes < 1_000_000_000) return `${(bytes / 1_000_000).toFixed(1)} MB`;
  return `${(bytes / 1_000_000_000).toFixed(2)} GB`;
}

export function formatDuration(ms: number): string {
  const seconds = Math.max(0, Math.floor(ms / 1000));
  const d = Math.floor(seconds / 86_400);
  const h = Math.floor((seconds % 86_400) / 3600);
  const m = Math.floor((seconds % 3600) / 60);
  const s = seconds % 60;
  if (d) return `${d}d${h}h`;
  if (h) return `${h}h${m}m`;
  if (m) return `${m}m${s}s`;
  return `${s}s`;
}

/** One line, at most `width` characters (control characters in a server's error text become spaces). */
export function truncate(text: string, width: number): string {
  // eslint-disable-next-line no-control-regex
  const flat = text.replace(/[\x00-\x1f\x7f]+/g, ' ').trim();
  return flat.length <= width ? flat : `${flat.slice(0, width - 1)}…`;
}
