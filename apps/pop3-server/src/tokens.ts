/** Injection tokens of the Listener app (the libs export their own: CONFIG, LOGGER, DIRECTORY, MESSAGE_STORE). */
export const POP3_SERVER = Symbol('Pop3Server');
export const TLS_MATERIAL = Symbol('TlsMaterial');
