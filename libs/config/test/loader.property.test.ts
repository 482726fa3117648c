/**
 * Hostile-input properties of the config loader: whatever an operator (or a broken deploy tool)
 * writes into the file, mailnode must stop with one ConfigError naming the file and the setting,
 * never with a bare TypeError / RangeError stack trace.
 */
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { isAbsolute, join } from 'node:path';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { ConfigError, loadConfig, parseDuration } from '../src/index.ts';
import type { LoadedConfig } from '../src/index.ts';
import { configDocument, DURATION_UNITS, garbageDuration } from './arbitraries.ts';

const NUM_RUNS = 250;
let dir: string;
let file: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'mailnode-config-prop-'));
  file = join(dir, 'mailnode.yaml');
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** Write text to the config file and load it: the config, or the error thrown (whatever it is). */
function load(text: string, mode = 0o600): LoadedConfig | unknown {
  writeFileSync(file, text);
  chmodSync(file, mode);
  try {
    return loadConfig(file);
  } catch (error) {
    return error;
  }
}

/** The loader's error contract: a ConfigError, message starting with the file, line within the text. */
function expectConfigError(error: unknown, text: string): asserts error is ConfigError {
  if (!(error instanceof ConfigError)) throw new Error(`expected a ConfigError, got ${String(error)}`, { cause: error });
  expect(error.file).toBe(file);
  expect(error.message.startsWith(`${file}`)).toBe(true);
  if (error.line !== undefined) {
    expect(error.line).toBeGreaterThanOrEqual(1);
    expect(error.line).toBeLessThanOrEqual(text.split('\n').length);
  }
}

const format = fc.constantFrom('yaml', 'json');
const serialize = (doc: unknown, how: string) => (how === 'json' ? JSON.stringify(doc, null, 2) : stringify(doc));

describe('loadConfig on random documents from the real schema (property)', () => {
  it('returns a config or throws a ConfigError naming the file and a setting the document contains', () => {
    fc.assert(
      fc.property(configDocument, format, fc.constantFrom(0o600, 0o600, 0o644), (doc, how, mode) => {
        const text = serialize(doc, how);
        const result = load(text, mode);
        if (result instanceof Error || !(result as LoadedConfig).config) {
          expectConfigError(result, text);
          // The document is a mapping, so every problem is at some setting, and it is one the
          // operator wrote (not an internal name).
          expect(result.setting).toBeTruthy();
          expect(result.message).toContain(`: ${result.setting}: `);
          const setting = result.setting!;
          expect(Object.keys(doc).some((key) => setting === key || setting.startsWith(`${key}.`))).toBe(true);
        } else {
          // Accepted: paths are resolved (relative to the file / state_dir).
          const { config, file: loadedFrom } = result as LoadedConfig;
          expect(loadedFrom).toBe(file);
          for (const path of [config.state_dir, config.tls.cert, config.tls.key, config.message_store.root, config.pop3download.uidl_dir]) {
            expect(isAbsolute(path)).toBe(true);
          }
        }
      }),
      { numRuns: NUM_RUNS },
    );
  });

  it('no resolved path keeps a literal ${state_dir}; a state_dir that refers to itself is a ConfigError', () => {
    fc.assert(
      fc.property(fc.constantFrom('${state_dir}', '${state_dir}/x', 'a/${state_dir}'), fc.constantFrom('yaml', 'json'), (stateDir, how) => {
        const text = serialize({ state_dir: stateDir }, how);
        const result = load(text);
        if (result instanceof Error || !(result as LoadedConfig).config) {
          expectConfigError(result, text);
          expect(result.setting).toBe('state_dir');
          return;
        }
        const { config } = result as LoadedConfig;
        for (const path of [config.state_dir, config.tls.cert, config.message_store.root, config.pop3download.uidl_dir]) {
          expect(path).not.toContain('${state_dir}');
        }
      }),
      { numRuns: 20 },
    );
  });

  it('an empty key is named in the message like any other unknown setting', () => {
    fc.assert(
      fc.property(fc.constantFrom('json', 'yaml'), fc.oneof(fc.integer(), fc.string({ maxLength: 5 })), (how, value) => {
        const text = serialize({ '': value }, how);
        const error = load(text);
        expectConfigError(error, text);
        expect(error.setting).toBe('');
        expect(error.message).toMatch(/: "": unknown setting$|: '': unknown setting$|: : unknown setting$/);
      }),
      { numRuns: 20 },
    );
  });

  // Aliases ("*a") are left out here: they hit the bug recorded in the skipped property below.
  it('random YAML-ish text (syntax errors, tags, anchors, flow/block mixes) gives a config or a ConfigError, never another exception', () => {
    const token = fc.constantFrom(
      'pop3server', 'timeout', 'limits', 'listeners', 'state_dir', ':', ': ', ' ', '  ', '\n', '\n  ', '- ', '{', '}', '[', ']', ',',
      '&a ', '!!str ', '!!int ', '!!binary ', '!!map ', '!!set ', '%YAML 1.1\n', '---\n', '...\n', '? ', '"', "'", '#', '\t', '<<: ', '|', '>', '30s', 'Y', '1e999', '.nan',
    );
    fc.assert(
      fc.property(fc.array(token, { maxLength: 30 }), (tokens) => {
        const text = tokens.join('');
        const result = load(text);
        if (result instanceof Error || !(result as LoadedConfig).config) expectConfigError(result, text);
      }),
      { numRuns: NUM_RUNS },
    );
  });

  it('YAML aliases (unresolved, or expanding at any fan-out) are loaded or refused with a ConfigError', () => {
    const aliasDoc = fc.oneof(
      // fan-out^depth alias expansions under an unknown key
      fc.tuple(fc.integer({ min: 1, max: 10 }), fc.integer({ min: 1, max: 4 })).map(([fanout, depth]) => {
        const lines = ['pop3download:', '  clients: []', 'x0: &x0 [a, b]'];
        for (let level = 1; level <= depth; level++) {
          lines.push(`x${level}: &x${level} [${Array.from({ length: fanout }, () => `*x${level - 1}`).join(', ')}]`);
        }
        return lines.join('\n') + '\n';
      }),
      // an alias whose anchor is missing or comes later, at a real setting
      fc.constantFrom('*a\n', 'pop3server:\n  timeout: *t\n', 'hostname: *h\nx: &h y\n', 'pop3server: {greet: &g hi, timeout: *g}\n'),
    );
    fc.assert(
      fc.property(aliasDoc, (text) => {
        const result = load(text);
        if (result instanceof Error || !(result as LoadedConfig).config) expectConfigError(result, text);
      }),
      { numRuns: 60 },
    );
  });
});

describe('durations (property)', () => {
  const unit = fc.constantFrom(...(Object.keys(DURATION_UNITS) as (keyof typeof DURATION_UNITS)[]));

  it('any N{s,m,h,d} (any case, optional blank before the unit) is N times the unit in milliseconds', () => {
    fc.assert(
      fc.property(fc.nat({ max: 100_000 }), unit, fc.boolean(), fc.constantFrom('', ' '), (n, u, upper, gap) => {
        const text = `${n}${gap}${upper ? u.toUpperCase() : u}`;
        // Beyond what a Node timer can wait, a duration is refused.
        const expected = n * DURATION_UNITS[u] <= 2 ** 31 - 1 ? n * DURATION_UNITS[u] : null;
        expect(parseDuration(text)).toBe(expected);
        expect(parseDuration(` ${text} `)).toBe(expected);
      }),
      { numRuns: NUM_RUNS },
    );
  });

  it('the loader stores a written N{s,m,h,d} as its milliseconds, for any duration setting', () => {
    fc.assert(
      fc.property(fc.nat({ max: 20 }), unit, fc.constantFrom('timeout', 'auth_failure_delay', 'delay_start', 'freq'), (n, u, setting) => {
        const value = `${n}${u}`;
        const text =
          setting === 'timeout'
            ? `pop3server:\n  timeout: ${value}\n`
            : setting === 'auth_failure_delay'
              ? `pop3server:\n  limits:\n    auth_failure_delay: ${value}\n`
              : setting === 'delay_start'
                ? `pop3download:\n  delay_start: ${value}\n`
                : `pop3download:\n  clients:\n    - { id: c, recip: r, freq: ${value}, server: { address: h } }\n`;
        const { config } = load(text) as LoadedConfig;
        const got =
          setting === 'timeout'
            ? config.pop3server.timeout
            : setting === 'auth_failure_delay'
              ? config.pop3server.limits.auth_failure_delay
              : setting === 'delay_start'
                ? config.pop3download.delay_start
                : config.pop3download.clients[0]!.freq;
        expect(got).toBe(n * DURATION_UNITS[u]);
      }),
      { numRuns: 100 },
    );
  });

  it('garbage durations are refused: parseDuration gives null and the loader names file, line and setting', () => {
    fc.assert(
      fc.property(garbageDuration, (garbage) => {
        expect(parseDuration(garbage)).toBeNull();
        const text = `pop3server:\n  greet: hi\n  timeout: ${JSON.stringify(garbage)}\n`;
        const error = load(text);
        expectConfigError(error, text);
        expect(error.message).toMatch(/:3: pop3server\.timeout: expected a duration/);
      }),
      { numRuns: NUM_RUNS },
    );
  });

  const anyDuration = fc.oneof(
    fc.tuple(fc.bigInt({ min: 0n, max: 10n ** 400n }), unit).map(([n, u]) => `${n}${u}`),
    fc.double({ min: 0, noNaN: true }),
    fc.tuple(fc.nat({ max: 1000 }), unit).map(([n, u]) => `${n}${u}`),
  );

  it('every accepted duration is a finite, safe integer number of milliseconds', () => {
    fc.assert(
      fc.property(anyDuration, (value) => {
        const ms = parseDuration(value);
        if (ms !== null) expect(Number.isSafeInteger(ms)).toBe(true);
      }),
      { numRuns: NUM_RUNS },
    );
  });

  it('every accepted duration fits a Node timer (at most 2^31-1 ms)', () => {
    fc.assert(
      fc.property(anyDuration, (value) => {
        const ms = parseDuration(value);
        if (ms !== null) expect(ms).toBeLessThanOrEqual(2 ** 31 - 1);
      }),
      { numRuns: NUM_RUNS },
    );
  });
});
