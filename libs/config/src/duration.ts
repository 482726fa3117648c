/** Durations as the Mailismus manual writes them: `30s`, `2m`, `4h`, `1d` (plus `ms` for tight tests). */
const UNIT_MS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };
const DURATION = /^(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)?$/i;

/** The longest duration a Node timer can wait (2^31-1 ms, about 24.8 days); longer ones fire at once. */
export const MAX_DURATION_MS = 2 ** 31 - 1;

/** Milliseconds, or null when the value is not a duration or longer than MAX_DURATION_MS. A bare number means seconds. */
export function parseDuration(value: unknown): number | null {
  let ms: number;
  if (typeof value === 'number') {
    ms = Math.round(value * 1000);
  } else if (typeof value === 'string') {
    const match = DURATION.exec(value.trim());
    if (!match) return null;
    ms = Math.round(Number(match[1]) * UNIT_MS[(match[2] ?? 's').toLowerCase()]!);
  } else {
    return null;
  }
  return Number.isFinite(ms) && ms >= 0 && ms <= MAX_DURATION_MS ? ms : null;
}

export function formatDuration(ms: number): string {
  for (const [unit, size] of [['d', 86_400_000], ['h', 3_600_000], ['m', 60_000], ['s', 1000]] as const) {
    if (ms >= size && ms % size === 0) return `${ms / size}${unit}`;
  }
  return `${ms}ms`;
}
