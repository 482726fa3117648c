import type { TLSSocket } from 'node:tls';

/** The Common Name of a client certificate that verified against our client CA, if any. */
export function clientCommonName(socket: TLSSocket): string | undefined {
  if (!socket.authorized) return undefined;
  const subject = socket.getPeerCertificate()?.subject as Record<string, string | string[]> | undefined;
  const cn = subject?.CN;
  return Array.isArray(cn) ? cn[0] : cn || undefined;
}
