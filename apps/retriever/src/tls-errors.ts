/** Certificate failures explained: which check failed, so the user knows what to fix. */
const CHECKS: Record<string, string> = {
  DEPTH_ZERO_SELF_SIGNED_CERT: 'the server certificate is self-signed and not trusted (give its CA with ssl.ca)',
  SELF_SIGNED_CERT_IN_CHAIN: 'the certificate chain ends in an untrusted self-signed CA (give it with ssl.ca)',
  UNABLE_TO_VERIFY_LEAF_SIGNATURE: 'the server certificate is not signed by a trusted CA',
  UNABLE_TO_GET_ISSUER_CERT_LOCALLY: 'the issuer of the server certificate is not trusted (missing CA, see ssl.ca)',
  CERT_HAS_EXPIRED: 'the server certificate has expired',
  CERT_NOT_YET_VALID: 'the server certificate is not valid yet',
  ERR_TLS_CERT_ALTNAME_INVALID: 'the server certificate does not name this host',
  CERT_REVOKED: 'the server certificate was revoked',
};

export function describeTlsError(error: Error & { code?: string }): string {
  const check = error.code ? CHECKS[error.code] : undefined;
  return check ? `TLS certificate check failed: ${check} (${error.code})` : `TLS handshake failed: ${error.message}`;
}
