/** Command-line settings that override the config file, as daemons usually allow. */
export interface ConfigOverrides {
  stateDir?: string;
  usersFile?: string;
  /** `ADDR:PORT` listeners with STLS offered. */
  pop3?: readonly string[];
  /** `ADDR:PORT` listeners with implicit TLS. */
  pop3s?: readonly string[];
}

/** `127.0.0.1:1110`, `[::1]:1110` or `1110` (all interfaces) → interface and port, or null. */
export function parseListenAddress(text: string): { interface: string; port: number } | null {
  const match = /^(?:\[([^\]]+)\]|([^:[\]]+)):(\d{1,5})$/.exec(text) ?? /^()()(\d{1,5})$/.exec(text);
  if (!match) return null;
  const port = Number(match[3]);
  if (port > 65535) return null;
  return { interface: match[1] || match[2] || '0.0.0.0', port };
}
