export { createLogger, LOGGER, REDACTED_PATHS, silentLogger, type Logger, type LoggerOptions } from './logger.ts';
export { expandDatedPath, hasDateTokens } from './dated-path.ts';
export { LineLog } from './line-log.ts';
export { FileTranscript, maskCommand, NO_TRANSCRIPT, TRANSCRIPT, type Transcript } from './transcript.ts';
