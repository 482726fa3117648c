/** The `Received` trace header added to each downloaded message (unless omitreceivedheader). */
const DAYS = ['Sun', 'Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat'];
const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];
const pad = (n: number) => String(n).padStart(2, '0');

/** RFC 5322 date-time in UTC: `Mon, 23 Nov 2026 20:01:41 +0000`. */
export function rfc5322Date(when: Date): string {
  return `${DAYS[when.getUTCDay()]}, ${when.getUTCDate()} ${MONTHS[when.getUTCMonth()]} ${when.getUTCFullYear()} ${pad(when.getUTCHours())}:${pad(when.getUTCMinutes())}:${pad(when.getUTCSeconds())} +0000`;
}

/** `recip` undefined (a domain-wide mailbox: recipients vary per message) leaves out the `for` clause. */
export function receivedHeader(info: { server: string; localHost: string; uidl?: string; recip: string | undefined; when: Date }): string {
  const id = info.uidl && /^[\x21-\x7e]{1,70}$/.test(info.uidl) ? ` id ${info.uidl}` : '';
  const recipient = info.recip === undefined ? '' : `\r\n\tfor <${info.recip}>`;
  return `Received: from ${info.server}\r\n\tby ${info.localHost} (mailnode) with POP3${id}${recipient}; ${rfc5322Date(info.when)}\r\n`;
}
