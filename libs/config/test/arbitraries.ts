/**
 * fast-check generators for config documents, built by walking the live zod schema so they follow
 * the real setting names (and keep following them when the schema grows).
 */
import fc from 'fast-check';
import { configSchema } from '../src/index.ts';

/** The parts of a zod v4 schema object this walker reads. */
interface ZodLike {
  readonly _zod: {
    readonly def: {
      readonly type: string;
      readonly innerType?: ZodLike;
      readonly shape?: Record<string, ZodLike>;
      readonly element?: ZodLike;
      readonly options?: readonly ZodLike[];
      readonly values?: readonly unknown[];
      readonly entries?: Record<string, unknown>;
    };
  };
  safeParse(value: unknown): { success: boolean };
}

const WRAPPERS = new Set(['default', 'prefault', 'optional', 'nullable', 'readonly']);

/** Values that are right for some settings: a leaf gets those its own schema accepts. */
const PLAUSIBLE: readonly unknown[] = [
  'x', 'state', '${state_dir}/x', '/tmp/abs', 'files', 'ldap', 'ldap://ldap.example', 'dc=example,dc=org', '(uid=%u)',
  '30s', '2m', '4h', '1d', '250ms', 'Y', 'N', 'yes', 'off', true, false, 'all', '-', 'USERPASS | APOP', 'SASL_PLAIN',
  'info', 'debug', 'sub', 'one', 'bind', 'password', 'pop.example:110', 'client-1', 'alice', 'postmaster@example.org',
  0, 1, 3, 64, 512, 1024, 2048, 65536, 1_000_000,
];

/** Wrong in most places: wrong types, out-of-range numbers, near-miss words, junk, deep structure. */
export const hostileValue: fc.Arbitrary<unknown> = fc.oneof(
  fc.constantFrom<unknown>(
    null, '', ' ', -1, 1.5, 1e308, -0, Number.NaN, Number.POSITIVE_INFINITY, 2 ** 53, '5 minutes', '-1s', '1e3s', 'maybe', 'YESS',
    'KERBEROS', 'ldap:/bad', '(uid=%u', 'uid=%u', '%u', '\0', 'x'.repeat(300), '${state_dir}', '[x]', [], {}, [1, 'x'], { a: 1 }, { type: 'nis' },
  ),
  fc.string({ unit: 'binary', maxLength: 12 }),
  fc.integer(),
  fc.double(),
  fc.dictionary(fc.string({ maxLength: 6 }), fc.oneof(fc.string({ maxLength: 4 }), fc.integer()), { maxKeys: 3 }),
);

/** Keys that are not settings (typos, case variants, Object.prototype names). */
const strayKey = fc.constantFrom('grete', 'Timeout', 'TIMEOUT', 'constructor', 'toString', 'hasOwnProperty', 'valueOf', '0', ' ', 'a.b');

function unwrap(schema: ZodLike): ZodLike {
  let s = schema;
  while (WRAPPERS.has(s._zod.def.type) && s._zod.def.innerType) s = s._zod.def.innerType;
  return s;
}

/**
 * `hostility` is the weight of a wrong value against 100 for a fitting one, per leaf; documents
 * are drawn at several levels so that some load cleanly and others fail in many different ways.
 */
function leafArb(schema: ZodLike, hostility: number): fc.Arbitrary<unknown> {
  const def = schema._zod.def;
  const own: unknown[] = [...(def.values ?? []), ...Object.values(def.entries ?? {})];
  const fitting = [...own, ...PLAUSIBLE].filter((v) => schema.safeParse(v).success);
  if (!fitting.length) return hostileValue;
  if (hostility === 0) return fc.constantFrom(...fitting);
  return fc.oneof({ weight: 100, arbitrary: fc.constantFrom(...fitting) }, { weight: hostility, arbitrary: hostileValue });
}

/** A section as given, or (with weight hostility / 4 against 100) replaced by a wrong value. */
function sometimesWrong(arb: fc.Arbitrary<unknown>, hostility: number): fc.Arbitrary<unknown> {
  const weight = Math.floor(hostility / 4);
  return weight === 0 ? arb : fc.oneof({ weight: 100, arbitrary: arb }, { weight, arbitrary: hostileValue });
}

function nodeArb(raw: ZodLike, hostility: number, depth = 0): fc.Arbitrary<unknown> {
  const schema = unwrap(raw);
  const def = schema._zod.def;
  if (def.type === 'object' && def.shape) {
    const fields: Record<string, fc.Arbitrary<unknown>> = {};
    for (const [key, child] of Object.entries(def.shape)) fields[key] = nodeArb(child, hostility, depth + 1);
    // Required settings (and union discriminators) are always written; optional ones now and then.
    const requiredKeys = Object.entries(def.shape)
      .filter(([, child]) => !child.safeParse(undefined).success)
      .map(([key]) => key);
    const record = fc.record(fields, { requiredKeys });
    const withStray =
      hostility === 0
        ? record
        : fc
            .tuple(record, fc.option(fc.tuple(strayKey, hostileValue), { freq: Math.ceil(400 / hostility) }))
            .map(([obj, stray]) => (stray && !(stray[0] in fields) ? { ...obj, [stray[0]]: stray[1] } : obj));
    return depth === 0 ? withStray : sometimesWrong(withStray, hostility);
  }
  if (def.type === 'array' && def.element) {
    const minLength = schema.safeParse([]).success ? 0 : 1;
    return sometimesWrong(fc.array(nodeArb(def.element, hostility, depth + 1), { minLength, maxLength: depth > 2 ? 1 : 2 }), hostility);
  }
  if (def.type === 'union' && def.options) return fc.oneof(...def.options.map((option) => nodeArb(option, hostility, depth)));
  return leafArb(schema, hostility);
}

const documentAt = (hostility: number) => nodeArb(configSchema as unknown as ZodLike, hostility) as fc.Arbitrary<Record<string, unknown>>;

type Container = Record<string, unknown> | unknown[];
const isContainer = (v: unknown): v is Container => typeof v === 'object' && v !== null;

/** Every (container, key) pair of a document, depth first. */
function slots(node: Container, out: [Container, string | number][] = []): [Container, string | number][] {
  for (const [key, value] of Object.entries(node)) {
    out.push([node, Array.isArray(node) ? Number(key) : key]);
    if (isContainer(value)) slots(value, out);
  }
  return out;
}

/** A document of fitting values with exactly one fault: one value replaced, or one stray key added. */
const singleFault: fc.Arbitrary<Record<string, unknown>> = fc
  .tuple(documentAt(0), fc.nat(), hostileValue, fc.boolean(), strayKey)
  .map(([valid, at, bad, addKey, key]) => {
    const doc = structuredClone(valid);
    const all = slots(doc);
    if (all.length === 0) return { ...doc, [key]: bad };
    const [container, slot] = all[at % all.length]!;
    const target = (container as Record<string | number, unknown>)[slot];
    if (addKey && isContainer(target) && !Array.isArray(target)) target[key] = bad;
    else (container as Record<string | number, unknown>)[slot] = bad;
    return doc;
  });

/** A config document (always a mapping at the top) using the real setting names with random values. */
export const configDocument: fc.Arbitrary<Record<string, unknown>> = fc.oneof(documentAt(0), singleFault, singleFault, documentAt(4), documentAt(25));

/** The documented duration units and their size in milliseconds. */
export const DURATION_UNITS = { s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 } as const;

/** Texts that are not durations: wrong units, signs, exponents, separators, other digits. */
export const garbageDuration: fc.Arbitrary<string> = fc.oneof(
  fc.tuple(fc.nat({ max: 1000 }), fc.constantFrom('min', 'sec', 'secs', 'w', 'y', 'us', 'mss', 'hh', 'x', 'S ec', 'm s', 'dd', 'h1')).map(([n, u]) => `${n}${u}`),
  fc.tuple(fc.nat({ max: 1000 }), fc.constantFrom('s', 'm', 'h', 'd', '')).map(([n, u]) => `-${n}${u}`),
  fc.tuple(fc.nat({ max: 1000 }), fc.constantFrom('s', 'm', 'h', 'd')).map(([n, u]) => `${n}e3${u}`),
  fc.tuple(fc.nat({ max: 1000 }), fc.constantFrom('s', 'm', 'h', 'd')).map(([n, u]) => `${n},5${u}`),
  fc.tuple(fc.nat({ max: 1000 }), fc.constantFrom('s', 'm', 'h', 'd')).map(([n, u]) => `${u}${n}`),
  fc.tuple(fc.nat({ max: 1000 }), fc.constantFrom('s', 'm', 'h', 'd')).map(([n, u]) => `0x${n}${u}`),
  fc.constantFrom('', ' ', 's', 'ms', '.5s', '1.s', '١٢s', '１s', 'Infinity', 'NaN', 'NaNs', '1 2s', '1s 2m', '1s2m', 'forever', 'never'),
);
