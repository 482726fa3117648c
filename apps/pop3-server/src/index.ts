export { ConnectionLimits } from './connection-limits.ts';
export { Pop3Connection, type ConnectionOptions } from './connection.ts';
export { listenerSecurity, MAX_QUEUED_LINES, Pop3Listener } from './listener.ts';
export { Pop3Server, SHUTDOWN_DEADLINE_MS, type BoundListener, type ListenerStatus } from './pop3-server.ts';
export { provideSessionMachine, sessionEffects } from './session-effects.ts';
export { loadTlsMaterial, secureContextFor, type TlsMaterial } from './tls-material.ts';
export { POP3_SERVER, TLS_MATERIAL } from './tokens.ts';
export { IMPLEMENTATION, VERSION } from './version.ts';
