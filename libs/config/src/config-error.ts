/** One clear message: which file, which line, which setting, what was expected. */
export class ConfigError extends Error {
  override readonly name = 'ConfigError';
  constructor(
    readonly file: string,
    readonly line: number | undefined,
    readonly setting: string | undefined,
    readonly problem: string,
  ) {
    super(`${file}${line ? `:${line}` : ''}: ${setting !== undefined ? `${setting === '' ? '""' : setting}: ` : ''}${problem}`);
  }
}
