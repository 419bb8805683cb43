/**
 * Dependency-free Amazon EventBridge event-pattern matcher.
 *
 * Semantics follow the AWS docs ("Amazon EventBridge event patterns", "Comparison operators for use in
 * event patterns") and, where the docs are silent, aws/event-ruler (the engine behind EventBridge).
 * A pattern is compiled once into nested predicates; compiling doubles as validation.
 */

export type EventPattern = Record<string, unknown>;

export class InvalidEventPatternError extends Error {
  constructor(message: string, path = '') {
    super(path ? `Invalid event pattern at "${path}": ${message}` : `Invalid event pattern: ${message}`);
    this.name = 'InvalidEventPatternError';
  }
}

/** JSON scalars are the only things comparison operators ever see ("leaf nodes"). */
type Leaf = string | number | boolean | null;
type ObjectTest = (event: unknown) => boolean;
/** Tests all leaf values found at one field (empty array = the field is absent). */
type LeavesTest = (leaves: Leaf[]) => boolean;
type LeafTest = (value: Leaf) => boolean;

const STRING_OPERATORS = ['prefix', 'suffix', 'equals-ignore-case', 'wildcard'] as const;
const OPERATORS = new Set<string>([...STRING_OPERATORS, 'anything-but', 'numeric', 'exists', 'cidr']);

// Compiled predicates keyed by pattern identity: patterns are treated as immutable once used.
const compiled = new WeakMap<object, ObjectTest>();

export function validateEventPattern(pattern: unknown): asserts pattern is EventPattern {
  compilePattern(pattern);
}

export function matchesEventPattern(pattern: EventPattern, event: unknown): boolean {
  return compilePattern(pattern)(event);
}

function compilePattern(pattern: unknown): ObjectTest {
  const cached = isObject(pattern) ? compiled.get(pattern) : undefined;
  if (cached) return cached;
  const test = compileObject(pattern, '', false);
  compiled.set(pattern as object, test);
  return test;
}

// ---------------------------------------------------------------- structure (AND / $or / nesting)

function compileObject(pattern: unknown, path: string, insideOr: boolean): ObjectTest {
  if (!isObject(pattern)) throw new InvalidEventPatternError('pattern must be a JSON object', path);
  const entries = Object.entries(pattern);
  if (entries.length === 0) throw new InvalidEventPatternError('empty objects are not allowed', path);
  const tests = entries.map(([key, sub]) => {
    if (key === '$or') return compileOr(sub, path);
    // event-ruler rejects operator names as field names inside $or, where they are almost surely a typo.
    if (insideOr && OPERATORS.has(key))
      throw new InvalidEventPatternError(`"${key}" cannot be a field name inside $or`, path);
    return compileField(key, sub, joinPath(path, key), insideOr);
  });
  return (event) => tests.every((test) => test(event));
}

function compileOr(branches: unknown, path: string): ObjectTest {
  if (!Array.isArray(branches) || branches.length < 2 || !branches.every(isObject)) {
    throw new InvalidEventPatternError('"$or" must be an array of at least 2 objects', path);
  }
  // A $or branch applies at the level where $or appears: it adds no path segment.
  const tests = branches.map((branch) => compileObject(branch, path, true));
  return (event) => tests.some((test) => test(event));
}

function compileField(key: string, sub: unknown, path: string, insideOr: boolean): ObjectTest {
  if (Array.isArray(sub)) {
    const test = compileLeafList(sub, path);
    return (event) => test(leavesOf(childOf(event, key)));
  }
  if (isObject(sub)) {
    const test = compileObject(sub, path, insideOr);
    return (event) => matchNested(test, childOf(event, key));
  }
  throw new InvalidEventPatternError('must be an object or an array', path);
}

/**
 * An event array of objects matches a nested pattern when ONE element matches all of it (event-ruler's
 * "array-consistent" matching). Without any object, nested fields are simply absent.
 */
function matchNested(test: ObjectTest, value: unknown): boolean {
  if (!Array.isArray(value)) return test(value);
  const objects = value.flat(Infinity).filter(isObject);
  return objects.length > 0 ? objects.some(test) : test(undefined);
}

/** Leaf values at a field: arrays are crushed (any element may match); objects are not leaves. */
function leavesOf(value: unknown): Leaf[] {
  if (Array.isArray(value)) return value.flatMap(leavesOf);
  if (value === null || ['string', 'number', 'boolean'].includes(typeof value)) return [value as Leaf];
  return [];
}

// ---------------------------------------------------------------- leaf lists and operators

function compileLeafList(values: unknown[], path: string): LeavesTest {
  if (values.length === 0) throw new InvalidEventPatternError('empty arrays are not allowed', path);
  const tests = values.map((value) => compileMatcher(value, path));
  return (leaves) => tests.some((test) => test(leaves));
}

function anyLeaf(test: LeafTest): LeavesTest {
  return (leaves) => leaves.some(test);
}

function compileMatcher(spec: unknown, path: string): LeavesTest {
  // Exact match is type-aware: "300" never matches 300, but 300 matches 300.0 (numeric equality).
  if (spec === null || typeof spec === 'string' || typeof spec === 'boolean') return anyLeaf((v) => v === spec);
  if (typeof spec === 'number' && Number.isFinite(spec)) return anyLeaf((v) => v === spec);
  if (!isObject(spec))
    throw new InvalidEventPatternError('match value must be a string, number, boolean, null or operator object', path);
  const [op, ...others] = Object.keys(spec);
  if (op === undefined || others.length > 0)
    throw new InvalidEventPatternError('only one key allowed in match expression', path);
  const arg = spec[op];
  switch (op) {
    case 'exists':
      if (typeof arg !== 'boolean') throw new InvalidEventPatternError('"exists" must be true or false', path);
      // Works on leaf nodes only: an object-valued field counts as absent.
      return (leaves) => leaves.length > 0 === arg;
    case 'anything-but': {
      // Excludes per value, so an event array matches as soon as one element is not excluded;
      // a missing field never matches.
      const excluded = compileAnythingBut(arg, path);
      return anyLeaf((v) => !excluded(v));
    }
    case 'numeric':
      return anyLeaf(compileNumeric(arg, path));
    case 'cidr':
      return anyLeaf(compileCidr(arg, path));
    default:
      return anyLeaf(compileStringOperator(op, arg, path));
  }
}

/** prefix / suffix / equals-ignore-case / wildcard: only string values can ever match. */
function compileStringOperator(op: string, arg: unknown, path: string): LeafTest {
  if (!STRING_OPERATORS.some((known) => known === op))
    throw new InvalidEventPatternError(`unrecognized match type "${op}"`, path);
  const nestedIgnoreCase = (op === 'prefix' || op === 'suffix') && isObject(arg);
  const value = nestedIgnoreCase ? unwrapIgnoreCase(arg, op, path) : arg;
  if (typeof value !== 'string') throw new InvalidEventPatternError(`"${op}" value must be a string`, path);
  const fold = nestedIgnoreCase || op === 'equals-ignore-case';
  const expected = fold ? value.toLowerCase() : value;
  const test = stringTest(op, expected, path);
  return (v) => typeof v === 'string' && test(fold ? v.toLowerCase() : v);
}

/** The test of one (already validated) string operator; `expected` is lower-cased when the match folds case. */
function stringTest(op: string, expected: string, path: string): (s: string) => boolean {
  switch (op) {
    case 'prefix':
      return (s) => s.startsWith(expected);
    case 'suffix':
      return (s) => s.endsWith(expected);
    case 'wildcard':
      return compileWildcard(expected, path); // never folded, so `expected` is the pattern as given
    default:
      return (s) => s === expected; // equals-ignore-case
  }
}

function unwrapIgnoreCase(arg: Record<string, unknown>, op: string, path: string): unknown {
  const keys = Object.keys(arg);
  if (keys.length !== 1 || keys[0] !== 'equals-ignore-case') {
    throw new InvalidEventPatternError(`"${op}" only supports a string or {"equals-ignore-case": string}`, path);
  }
  return arg['equals-ignore-case'];
}

/** Returns the "is excluded" test; anything-but matches every existing leaf that is not excluded. */
function compileAnythingBut(arg: unknown, path: string): LeafTest {
  if (isObject(arg)) {
    const [op, ...others] = Object.keys(arg);
    if (op === undefined || others.length > 0 || !STRING_OPERATORS.some((known) => known === op)) {
      throw new InvalidEventPatternError(
        'anything-but supports only prefix, suffix, equals-ignore-case or wildcard',
        path,
      );
    }
    const values = asNonEmptyList(arg[op], path);
    if (!values.every((v) => typeof v === 'string' && (v !== '' || op === 'equals-ignore-case' || op === 'wildcard'))) {
      throw new InvalidEventPatternError(`anything-but/${op} values must be non-empty strings`, path);
    }
    const tests = values.map((v) => compileStringOperator(op, v, path));
    return (v) => tests.some((test) => test(v));
  }
  const values = asNonEmptyList(arg, path);
  // Lists must be all strings or all numbers (event-ruler rejects null, booleans and mixed types).
  if (
    !values.every((v) => typeof v === 'string') &&
    !values.every((v) => typeof v === 'number' && Number.isFinite(v))
  ) {
    throw new InvalidEventPatternError('anything-but values must be all strings or all numbers', path);
  }
  const excluded = new Set<unknown>(values);
  return (v) => excluded.has(v);
}

function asNonEmptyList(arg: unknown, path: string): unknown[] {
  const list = Array.isArray(arg) ? arg : [arg];
  if (list.length === 0) throw new InvalidEventPatternError('anything-but list must not be empty', path);
  return list;
}

type Compare = (a: number, b: number) => boolean;
type Comparison = { op: string; bound: number; compare: Compare };
const COMPARE: Record<string, Compare> = {
  '=': (a, b) => a === b,
  '<': (a, b) => a < b,
  '<=': (a, b) => a <= b,
  '>': (a, b) => a > b,
  '>=': (a, b) => a >= b,
};

/** event-ruler grammar: ["=", n] | [lower] | [upper] | [lower, upper], lower = > or >=, upper = < or <=. */
function compileNumeric(arg: unknown, path: string): LeafTest {
  const bad = (why: string) => new InvalidEventPatternError(`numeric: ${why}`, path);
  if (!Array.isArray(arg) || (arg.length !== 2 && arg.length !== 4)) throw bad('expected [op, n] or [op, n, op, n]');
  const comparisons: Comparison[] = [];
  for (let i = 0; i < arg.length; i += 2) {
    const [op, bound] = [arg[i], arg[i + 1]];
    // Own keys only: "toString" or "constructor" are not operators.
    const compare = typeof op === 'string' && Object.hasOwn(COMPARE, op) ? COMPARE[op] : undefined;
    if (typeof op !== 'string' || compare === undefined) throw bad(`unknown operator ${JSON.stringify(op)}`);
    if (typeof bound !== 'number' || !Number.isFinite(bound)) throw bad(`value of ${op} must be a number`);
    comparisons.push({ op, bound, compare });
  }
  const [low, high] = comparisons;
  if (low && high) {
    if (!low.op.startsWith('>') || !high.op.startsWith('<'))
      throw bad('a range must be a lower bound (>, >=) then an upper bound (<, <=)');
    if (low.bound >= high.bound) throw bad('lower bound must be less than upper bound');
  }
  return (v) => typeof v === 'number' && comparisons.every(({ bound, compare }) => compare(v, bound));
}

/**
 * Wildcard: "*" matches any run of characters; "\*" and "\\" are literal; any other escape and
 * consecutive "**" are invalid. Matching is done on literal segments (no RegExp, no backtracking blow-up).
 */
function compileWildcard(pattern: string, path: string): (s: string) => boolean {
  // The literal text between "*"s: the segment being read is `current`, the finished ones `segments`.
  const segments: string[] = [];
  let current = '';
  for (let i = 0; i < pattern.length; i++) {
    const ch = pattern.charAt(i);
    if (ch === '*') {
      if (pattern[i + 1] === '*')
        throw new InvalidEventPatternError(`wildcard: consecutive "*" at position ${i}`, path);
      segments.push(current);
      current = '';
    } else if (ch === '\\') {
      const next = pattern.charAt(i + 1);
      if (next !== '*' && next !== '\\')
        throw new InvalidEventPatternError(`wildcard: invalid escape at position ${i}`, path);
      current += next;
      i++;
    } else {
      current += ch;
    }
  }
  const first = segments[0] ?? current;
  const middle = segments.slice(1);
  const last = current;
  return segments.length === 0 ? (s) => s === first : (s) => matchSegments(first, middle, last, s);
}

function matchSegments(first: string, middle: string[], last: string, s: string): boolean {
  if (s.length < first.length + last.length || !s.startsWith(first) || !s.endsWith(last)) return false;
  // Greedy leftmost placement of the middle segments is optimal when only "*" wildcards exist.
  let pos = first.length;
  const end = s.length - last.length;
  for (const segment of middle) {
    const found = s.indexOf(segment, pos);
    if (found < 0 || found + segment.length > end) return false;
    pos = found + segment.length;
  }
  return true;
}

// ---------------------------------------------------------------- IP addresses

type Ip = { bits: 32 | 128; value: bigint };

function compileCidr(arg: unknown, path: string): LeafTest {
  const match = typeof arg === 'string' ? /^([^/]+)\/(\d{1,3})$/.exec(arg) : null;
  const [, address, bits] = match ?? [];
  const ip = address === undefined ? null : parseIp(address);
  const prefix = Number(bits);
  if (!ip || !(prefix <= ip.bits)) throw new InvalidEventPatternError(`malformed CIDR ${JSON.stringify(arg)}`, path);
  // Compare network parts only, so host bits set in the pattern ("10.0.0.5/24") are ignored.
  const shift = BigInt(ip.bits - prefix);
  const network = ip.value >> shift;
  return (v) => {
    const candidate = typeof v === 'string' ? parseIp(v) : null;
    return candidate !== null && candidate.bits === ip.bits && candidate.value >> shift === network;
  };
}

function parseIp(text: string): Ip | null {
  const v4 = parseIpv4(text);
  return v4 !== null ? { bits: 32, value: v4 } : parseIpv6(text);
}

function parseIpv4(text: string): bigint | null {
  const parts = text.split('.');
  if (parts.length !== 4 || !parts.every((p) => /^\d{1,3}$/.test(p) && Number(p) <= 255)) return null;
  return parts.reduce((acc, p) => (acc << 8n) | BigInt(p), 0n);
}

/** IPv6 with optional "::" compression and an optional trailing dotted IPv4 part. */
function parseIpv6(text: string): Ip | null {
  const halves = text.split('::');
  if (halves.length > 2) return null;
  // head = the groups before "::" (all of them when there is none), tail = the groups after it.
  const [head = [], tail = []] = halves.map((half) => (half === '' ? [] : half.split(':')));
  const last = halves.length === 1 ? head : tail;
  const lastGroup = last.at(-1);
  const v4 = lastGroup === undefined ? null : parseIpv4(lastGroup);
  if (v4 !== null) last.splice(-1, 1, (v4 >> 16n).toString(16), (v4 & 0xffffn).toString(16));
  const count = head.length + tail.length;
  if (halves.length === 1 ? count !== 8 : count > 7) return null;
  const all = halves.length === 1 ? head : [...head, ...Array<string>(8 - count).fill('0'), ...tail];
  if (!all.every((g) => /^[0-9a-f]{1,4}$/i.test(g))) return null;
  return { bits: 128, value: all.reduce((acc, g) => (acc << 16n) | BigInt(`0x${g}`), 0n) };
}

// ---------------------------------------------------------------- helpers

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** Own properties only, so keys like "constructor" never resolve through the prototype. */
function childOf(event: unknown, key: string): unknown {
  return isObject(event) && Object.hasOwn(event, key) ? event[key] : undefined;
}

function joinPath(path: string, key: string): string {
  return path ? `${path}.${key}` : key;
}
