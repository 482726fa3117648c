/** Domain-wide (multidrop) mailboxes: envelope recovery, routing, delivery notes, duplicate suppression. */
export { HEADER_ADDRESSES, parseAddressList, readEnvelope, splitHeader, stripEnvelopeFields } from './envelope.ts';
export type { Envelope, HeaderField, SplitMessage } from './envelope.ts';
export { POSTMASTER, routeMessage } from './route.ts';
export type { Resolve, RoutingDecision, RoutingPolicy } from './route.ts';
export { NOTE_HEADER, addDeliveryNote } from './note.ts';
export { addNoteHeader } from './note-header.ts';
export { PollDeduplicator } from './dedupe.ts';
