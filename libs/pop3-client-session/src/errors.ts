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

/** Counts of the batches a failed download did complete (stored, recorded, maybe deleted). */
export interface PartialResult {
  readonly fetched: number;
  readonly bytes: number;
  readonly deleted: number;
  readonly known: number;
}

const PARTIAL = Symbol('partialResult');

/** Attaches the completed part of a download to the error that ended it. */
export function withPartialResult(error: unknown, partial: PartialResult): unknown {
  if (typeof error === 'object' && error !== null) Object.defineProperty(error, PARTIAL, { value: partial, configurable: true });
  return error;
}

export function partialResultOf(error: unknown): PartialResult | undefined {
  return typeof error === 'object' && error !== null ? (error as { [PARTIAL]?: PartialResult })[PARTIAL] : undefined;
}
