/** Why a peer's bytes could not be accepted as POP3. */
export type ProtocolErrorCode = 'line-too-long' | 'bad-status-line';

/** A protocol violation by the peer; the session should close the connection. */
export class ProtocolError extends Error {
  override readonly name = 'ProtocolError';
  readonly code: ProtocolErrorCode;

  constructor(code: ProtocolErrorCode, message: string) {
    super(message);
    this.code = code;
  }
}
