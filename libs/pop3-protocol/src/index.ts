/** @mailnode/pop3-protocol: pure POP3 wire codecs shared by the server and the retriever. */
export { MAX_COMMAND_LINE, MAX_RESPONSE_LINE, MAX_SASL_LINE } from './limits.ts';
export { ProtocolError } from './errors.ts';
export type { ProtocolErrorCode } from './errors.ts';
export { LineDecoder } from './line-decoder.ts';
export type { DecodedLine, LineDecoderOptions } from './line-decoder.ts';
export { parseCommand, parseMessageNumber } from './command.ts';
export type { ParsedCommand } from './command.ts';
export { okLine, errLine, multiLine, continuation, parseStatusLine } from './reply.ts';
export type { ResponseCode, StatusLine } from './reply.ts';
export { MessageEncoder, encodeMessage } from './message-encoder.ts';
export type { MessageEncoderOptions } from './message-encoder.ts';
export { MultilineDecoder } from './message-decoder.ts';
export type { MultilineChunk, MultilineDecoderOptions } from './message-decoder.ts';
export {
  decodeBase64Strict,
  decodeUtf8,
  encodeBase64,
  parseSaslPlain,
  buildSaslPlain,
  parseCramMd5Response,
  cramMd5Digest,
  buildCramMd5Response,
  makeChallenge,
  apopDigest,
  findApopTimestamp,
} from './sasl.ts';
export type { SaslPlain } from './sasl.ts';
export { formatCapa, parseCapa } from './capabilities.ts';
