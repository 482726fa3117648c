/** zod building blocks for the Mailismus value forms: durations, Y/N, login-method lists. */
import * as z from 'zod';
import { parseAuthTypes, type AuthType } from './authtypes.ts';
import { parseDuration } from './duration.ts';
import { parseYesNo } from './yes-no.ts';

/** A duration in milliseconds, written `30s`, `2m`, `4h`, `1d`. */
export function duration(fallback: string) {
  return z
    .unknown()
    .optional()
    .transform((value, ctx) => {
      const ms = parseDuration(value ?? fallback);
      if (ms === null) {
        ctx.addIssue({ code: 'custom', message: `expected a duration like 30s, 2m, 4h or 1d (at most 24d), got ${JSON.stringify(value)}` });
        return z.NEVER;
      }
      return ms;
    });
}

/** Y/N (or true/false). */
export function yesNo(fallback: boolean) {
  return z
    .unknown()
    .optional()
    .transform((value, ctx) => {
      if (value === undefined) return fallback;
      const flag = parseYesNo(value);
      if (flag === null) {
        ctx.addIssue({ code: 'custom', message: `expected Y or N, got ${JSON.stringify(value)}` });
        return z.NEVER;
      }
      return flag;
    });
}

function authTypeList(value: unknown, ctx: z.RefinementCtx): ReadonlySet<AuthType> {
  const parsed = parseAuthTypes(value);
  if (typeof parsed === 'string') {
    ctx.addIssue({ code: 'custom', message: `expected ${parsed}` });
    return z.NEVER;
  }
  return parsed;
}

/** `USERPASS | APOP | ...`, `all` or `-`. */
export function authTypes(fallback: string) {
  return z
    .unknown()
    .optional()
    .transform((value, ctx) => authTypeList(value ?? fallback, ctx));
}

/** Like authTypes, but stays undefined when not configured (a default computed elsewhere applies). */
export function optionalAuthTypes() {
  return z
    .unknown()
    .optional()
    .transform((value, ctx) => (value === undefined ? undefined : authTypeList(value, ctx)));
}

export const positiveInt = (fallback: number, min = 1, max = 1_000_000_000) => z.number().int().min(min).max(max).default(fallback);
