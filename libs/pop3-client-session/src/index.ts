export { attemptLogin, isFinalRefusal, type LoginCredentials, type LoginOutcome } from './authenticate.ts';
export { pop3ClientMachine, type ClientSessionInput, type ClientSessionOutput, type Pop3ClientMachine } from './client-machine.ts';
export { capa, expectOk, listMessages, MAX_LISTING_BYTES, simpleCommand, type RemoteMessage } from './commands.ts';
export { downloadAll, type DownloadOptions, type DownloadResult } from './download.ts';
export { Pop3ReplyError, RetrievalError, type FailureStage } from './errors.ts';
export type { AuditSink, ClientLog, DeliveryMeta, DeliverySink, Pop3Transport, ProgressReport, StagedDelivery, UidlLedger } from './ports.ts';
