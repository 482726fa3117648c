/** Unix socket paths: sockaddr_un holds 108 bytes on Linux (104 on BSD), the last one a NUL. */
import { StartupError } from '../startup-error.ts';

export const MAX_SOCKET_PATH_BYTES = 107;

/** A path the kernel would reject (or libuv truncate) is a config error naming the setting. */
export function checkSocketPath(path: string): void {
  const bytes = Buffer.byteLength(path);
  if (bytes > MAX_SOCKET_PATH_BYTES) {
    throw new StartupError(
      `control.socket ${path}: ${bytes} bytes is too long for a unix socket (at most ${MAX_SOCKET_PATH_BYTES}); set control.socket to a shorter path`,
    );
  }
}
