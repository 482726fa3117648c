/**
 * Default size limits shared by the POP3 server and client. Every buffer that grows with
 * peer input is capped by one of these, so a hostile peer cannot make us hold unbounded data.
 */

/** Longest command line a server accepts, in octets without CRLF. RFC 2449 allows 255; we allow slack for long PASS/APOP arguments. */
export const MAX_COMMAND_LINE = 512;

/**
 * Longest line a client accepts in a server response, in octets without CRLF. RFC 5322 caps
 * message lines at 998, but real mail is sloppy, so allow well above it.
 */
export const MAX_RESPONSE_LINE = 8192;

/** Longest SASL continuation line (base64 of a credential blob), in octets without CRLF. */
export const MAX_SASL_LINE = 8192;
