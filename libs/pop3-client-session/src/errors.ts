/** Why a retrieval session ended early; `stage` says in which phase, `temporary` whether to retry soon. */
export type FailureStage = 'connect' | 'greeting' | 'tls' | 'auth' | 'list' | 'deliver' | 'download' | 'delete' | 'quit' | 'recip';

export class RetrievalError extends Error {
  override readonly name = 'RetrievalError';
  constructor(
    readonly stage: FailureStage,
    message: string,
    options?: { cause?: unknown; code?: string },
  ) {
    super(message, options);
    this.code = options?.code;
  }
  readonly code: string | undefined;
}

/** The server answered -ERR to a command we needed. */
export class Pop3ReplyError extends Error {
  override readonly name = 'Pop3ReplyError';
  constructor(
    readonly command: string,
    readonly text: string,
    readonly code?: string,
  ) {
    super(`${command} refused: -ERR ${code ? `[${code}] ` : ''}${text}`);
  }
}
