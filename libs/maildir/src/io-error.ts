import { StoreUnavailableError } from '@mailnode/message-store';

export function errorCode(error: unknown): string | undefined {
  if (typeof error === 'object' && error !== null && 'code' in error) {
    const code = (error as { code: unknown }).code;
    if (typeof code === 'string') return code;
  }
  return undefined;
}

export function isMissing(error: unknown): boolean {
  return errorCode(error) === 'ENOENT';
}

const explanations: Record<string, string> = {
  ENOSPC: 'disk full (ENOSPC)',
  EDQUOT: 'disk quota exceeded (EDQUOT)',
  EIO: 'I/O error (EIO)',
  EACCES: 'permission denied (EACCES)',
  EPERM: 'operation not permitted (EPERM)',
  EROFS: 'read-only file system (EROFS)',
  EMFILE: 'too many open files (EMFILE)',
  ENFILE: 'too many open files in system (ENFILE)',
};

/** Wraps any failure of the store's I/O as the contract's temporary failure, keeping the cause. */
export function unavailable(what: string, error: unknown): StoreUnavailableError {
  if (error instanceof StoreUnavailableError) return error;
  const code = errorCode(error);
  const reason = (code && explanations[code]) ?? (error instanceof Error ? error.message : String(error));
  return new StoreUnavailableError(`${what}: ${reason}`, { cause: error });
}
