/**
 * Log paths with date tokens rotate by themselves: `transcript-%Y%m%d.log` starts a new file
 * each day, `audit-%Y%m.log` each month. Tokens: %Y year, %m month, %d day, %H hour.
 */
const pad = (n: number) => String(n).padStart(2, '0');

export function expandDatedPath(template: string, when: Date): string {
  return template
    .replaceAll('%Y', String(when.getFullYear()))
    .replaceAll('%m', pad(when.getMonth() + 1))
    .replaceAll('%d', pad(when.getDate()))
    .replaceAll('%H', pad(when.getHours()));
}

export function hasDateTokens(template: string): boolean {
  return /%[YmdH]/.test(template);
}
