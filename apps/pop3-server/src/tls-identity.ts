import type { TLSSocket } from 'node:tls';

/**
 * Whether the client certificate verified against our client CA. Node sets `authorized` only
 * on sockets a tls.Server created; ours are wrapped by hand (connection limits first, STLS),
 * so ask the TLS handle the same question Node's server asks it.
 */
function clientVerified(socket: TLSSocket): boolean {
  if (socket.authorized) return true;
  const handle = (socket as unknown as { _handle?: { verifyError?: () => Error | null } })._handle;
  return typeof handle?.verifyError === 'function' && handle.verifyError() === null && Boolean(socket.getPeerX509Certificate());
}

/** The Common Name of a client certificate that verified against our client CA, if any. */
export function clientCommonName(socket: TLSSocket): string | undefined {
  if (!clientVerified(socket)) return undefined;
  const subject = socket.getPeerCertificate()?.subject as Record<string, string | string[]> | undefined;
  const cn = subject?.CN;
  return Array.isArray(cn) ? cn[0] : cn || undefined;
}
