export { MaildirStore } from './maildir-store.ts';
export type { MaildirStoreOptions, MaildirLogger, SyncMethod } from './options.ts';
export {
  parseMaildirName,
  newUniqueName,
  newFileName,
  curFileName,
  encodeHost,
  withSizes,
  deliveryTime,
} from './filename.ts';
export type { ParsedMaildirName, DeliveryTime } from './filename.ts';
export { uidlFor } from './uidl.ts';
export { validateUser, LOCK_FILE_NAME } from './user-path.ts';
export { fsyncDirectory } from './fsync.ts';
export { writeAll } from './file-writer.ts';
