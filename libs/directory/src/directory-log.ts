/** The logging surface the Directory needs; a pino logger satisfies it. */
export interface DirectoryLog {
  warn(obj: object, msg: string): void;
  error(obj: object, msg: string): void;
}

export const SILENT_LOG: DirectoryLog = {
  warn() {},
  error() {},
};
