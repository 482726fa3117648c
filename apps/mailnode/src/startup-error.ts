/** Something outside the config file's syntax stops the node from starting (unreadable file, directory down). */
export class StartupError extends Error {
  override readonly name = 'StartupError';
}
