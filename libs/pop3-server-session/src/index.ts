export { decideAuth, offersStls, resolveAuthPolicy, saslMechanismsNow, type AuthPolicy, type ListenerSecurity } from './auth-policy.ts';
export { capabilities, type CapabilityState } from './capabilities.ts';
export { transactionCommands, resolveTransfer } from './commands/transaction-commands.ts';
export { continueSasl, startSasl, type SaslStep } from './sasl-exchange.ts';
export { pop3ServerMachine, type Pop3ServerMachine, type Pop3ServerSessionActor } from './server-machine.ts';
export {
  COMMAND_VERBS,
  isVerb,
  type CommandEvent,
  type SessionEffects,
  type SessionEvent,
  type SessionInput,
  type SessionIO,
  type SessionLimits,
  type SessionLog,
  type Verb,
  type WireOptions,
} from './session-types.ts';
