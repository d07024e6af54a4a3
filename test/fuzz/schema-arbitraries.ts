import fc from 'fast-check';

// Tool arguments derived from a tool's own inputSchema (as tools/list shows it), with fast-check's schema-free
// arbitraries. The mapping is deliberately small: type, enum, minimum/maximum, minLength/maxLength, pattern-bearing
// formats (uuid, date-time), items, minItems/maxItems, properties, required, additionalProperties. A `$ref` or a
// property the mapping does not know becomes any JSON value, which the server must refuse or accept gracefully.

export type JsonSchema = {
  type?: string | string[];
  enum?: unknown[];
  minimum?: number;
  maximum?: number;
  minLength?: number;
  maxLength?: number;
  minItems?: number;
  maxItems?: number;
  format?: string;
  pattern?: string;
  items?: JsonSchema;
  properties?: Record<string, JsonSchema>;
  required?: string[];
  additionalProperties?: boolean | JsonSchema;
  propertyNames?: JsonSchema;
  anyOf?: JsonSchema[];
  $ref?: string;
};

/** Strings for a named property, where the domain matters (paths, tables, SQL): supplied per server by the caller. */
export type PropertyHints = (property: string, schema: JsonSchema) => fc.Arbitrary<unknown> | undefined;

/** Characters a careless server mishandles: lone surrogates, NUL, bidi controls, combining marks, emoji, separators. */
export const oddChar = fc.constantFrom(
  '\u0000',
  '\ud800',
  '\udfff',
  '\u202e',
  '\u200f',
  '\u200b',
  '\u0301',
  '\ufeff',
  '\uffff',
  '\u2028',
  '😀',
  '👩‍👩‍👧',
  '\n',
  '\r',
  '\t',
  '"',
  '\\',
  '/',
  '%',
  '$1',
  "'",
  '*',
  '..',
);

/** Mostly ordinary text, with odd characters mixed in. */
export const textUnit = fc.oneof(
  { weight: 4, arbitrary: fc.string({ unit: 'grapheme-ascii', minLength: 1, maxLength: 1 }) },
  { weight: 1, arbitrary: oddChar },
);

/** Numbers JSON can carry that servers get wrong: the largest double, negative zero, beyond 2^53, tiny ones. */
export const edgeNumber = fc.constantFrom(
  1e308,
  -1e308,
  -0,
  2 ** 53 + 1,
  -(2 ** 53) - 1,
  5e-324,
  0.5,
  -1,
  0,
  2 ** 31,
  2 ** 63,
);

const CAP = 64;

function stringOf(schema: JsonSchema): fc.Arbitrary<string> {
  if (schema.format === 'uuid') {
    return fc.oneof(fc.uuid({ version: [1, 4, 7] }), fc.constant('00000000-0000-0000-0000-000000000000'));
  }
  if (schema.format === 'date-time') {
    return fc
      .date({ min: new Date('2026-01-01T00:00:00Z'), max: new Date('2031-01-01T00:00:00Z'), noInvalidDate: true })
      .map((date) => date.toISOString());
  }
  const min = schema.minLength ?? 0;
  const max = Math.max(min, Math.min(schema.maxLength ?? CAP, min + CAP));
  // A pattern the mapping cannot read: printable ASCII without spaces fits the ones these servers use.
  const unit = schema.pattern
    ? fc.constantFrom(...'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.:!~')
    : textUnit;
  const boundary = [fc.constant(min), ...(schema.maxLength !== undefined ? [fc.constant(schema.maxLength)] : [])];
  return fc.oneof(
    { weight: 5, arbitrary: fc.string({ unit, minLength: min, maxLength: max }) },
    // Boundary lengths, exactly: built by repetition, since a generated string of 100,000 characters is slow.
    { weight: 1, arbitrary: fc.tuple(fc.oneof(...boundary), unit).map(([length, char]) => fill(char, length)) },
  );
}

/** A string of exactly `length` UTF-16 code units (as zod and JSON Schema count them) built from one unit. */
function fill(unit: string, length: number): string {
  const ascii = unit.length === 1 ? unit : 'x';
  return ascii.repeat(length);
}

function numberOf(schema: JsonSchema, integer: boolean): fc.Arbitrary<number> {
  const min = schema.minimum ?? -(2 ** 31);
  const max = schema.maximum ?? 2 ** 31;
  const inner = integer
    ? fc.integer({ min: Math.max(min, Number.MIN_SAFE_INTEGER), max: Math.min(max, Number.MAX_SAFE_INTEGER) })
    : fc.double({ min, max, noNaN: true, noDefaultInfinity: true });
  return fc.oneof({ weight: 4, arbitrary: inner }, { weight: 1, arbitrary: fc.constantFrom(min, max) });
}

/** Any JSON value, shallow: what `$ref`ed recursive value schemas and unknown constructs become. */
export const anyJson: fc.Arbitrary<unknown> = fc.jsonValue({ maxDepth: 3, depthSize: 'small' });

/** A value that fits `schema`. */
export function validOf(schema: JsonSchema, hints: PropertyHints, name = ''): fc.Arbitrary<unknown> {
  const hinted = name ? hints(name, schema) : undefined;
  if (hinted) return hinted;
  if (schema.enum) return fc.constantFrom(...schema.enum);
  if (schema.anyOf) return fc.oneof(...schema.anyOf.map((branch) => validOf(branch, hints)));
  if (schema.$ref) return anyJson;
  const types = Array.isArray(schema.type) ? schema.type : schema.type ? [schema.type] : [];
  if (types.length === 0) return anyJson;
  return fc.oneof(...types.map((type) => validOfType(type, schema, hints)));
}

function validOfType(type: string, schema: JsonSchema, hints: PropertyHints): fc.Arbitrary<unknown> {
  switch (type) {
    case 'string':
      return stringOf(schema);
    case 'integer':
      return numberOf(schema, true);
    case 'number':
      return numberOf(schema, false);
    case 'boolean':
      return fc.boolean();
    case 'null':
      return fc.constant(null);
    case 'array': {
      const minLength = schema.minItems ?? 0;
      const maxLength = Math.max(minLength, Math.min(schema.maxItems ?? 5, minLength + 5));
      return fc.array(validOf(schema.items ?? {}, hints), { minLength, maxLength });
    }
    case 'object':
      return objectOf(schema, hints);
    default:
      return anyJson;
  }
}

function objectOf(schema: JsonSchema, hints: PropertyHints): fc.Arbitrary<Record<string, unknown>> {
  const properties = schema.properties ?? {};
  const names = Object.keys(properties);
  if (names.length === 0 && typeof schema.additionalProperties === 'object') {
    // A map (e.g. a row: column → value): keys from propertyNames, values from additionalProperties.
    const key = schema.propertyNames ? stringOf(schema.propertyNames) : fc.string({ maxLength: 10 });
    return fc.dictionary(key, validOf(schema.additionalProperties, hints), { maxKeys: 4 });
  }
  const model = Object.fromEntries(names.map((name) => [name, validOf(properties[name] as JsonSchema, hints, name)]));
  return fc.record(model, { requiredKeys: schema.required ?? [] }) as fc.Arbitrary<Record<string, unknown>>;
}

/** A value of the wrong JSON type for `schema`, or one just outside its bounds. */
export function invalidOf(schema: JsonSchema): fc.Arbitrary<unknown> {
  const wrong: fc.Arbitrary<unknown>[] = [];
  const types = Array.isArray(schema.type) ? schema.type : schema.type ? [schema.type] : [];
  const wrongType = fc
    .constantFrom<unknown>('text', 42, 1.5, true, null, [], {}, [1, 2], { a: 1 })
    .filter((value) => !types.some((type) => fitsType(value, type)));
  wrong.push(wrongType);
  if (schema.enum) wrong.push(fc.constant('not-one-of-the-enum'));
  if (schema.minLength !== undefined && schema.minLength > 0) wrong.push(fc.constant('x'.repeat(schema.minLength - 1)));
  if (schema.maxLength !== undefined) wrong.push(fc.constant('x'.repeat(schema.maxLength + 1)));
  if (schema.minimum !== undefined) wrong.push(fc.constant(schema.minimum - 1));
  if (schema.maximum !== undefined) wrong.push(fc.constantFrom(schema.maximum + 1, 1e308));
  if (types.includes('integer')) wrong.push(fc.constantFrom(0.5, -0.000001, 2 ** 53 + 0.5));
  if (types.includes('integer') || types.includes('number')) wrong.push(edgeNumber);
  if (schema.minItems !== undefined && schema.minItems > 0) wrong.push(fc.constant([]));
  if (schema.format || schema.pattern) wrong.push(fc.constantFrom('not-a-match', ' ', '\u0000'));
  return fc.oneof(...wrong);
}

function fitsType(value: unknown, type: string): boolean {
  switch (type) {
    case 'string':
      return typeof value === 'string';
    case 'integer':
      return Number.isInteger(value);
    case 'number':
      return typeof value === 'number';
    case 'boolean':
      return typeof value === 'boolean';
    case 'null':
      return value === null;
    case 'array':
      return Array.isArray(value);
    case 'object':
      return typeof value === 'object' && value !== null && !Array.isArray(value);
    default:
      return false;
  }
}

/**
 * Arguments one step from valid: a required property missing, a property the schema does not allow, or one
 * property of the wrong type or just out of bounds.
 */
export function nearValidOf(schema: JsonSchema, hints: PropertyHints): fc.Arbitrary<Record<string, unknown>> {
  const valid = objectOf(schema, hints);
  const properties = schema.properties ?? {};
  const names = Object.keys(properties);
  const mutations: fc.Arbitrary<Record<string, unknown>>[] = [
    fc
      .tuple(valid, fc.string({ unit: textUnit, minLength: 1, maxLength: 12 }), anyJson)
      .map(([args, key, value]) => (key in properties ? args : { ...args, [key]: value })),
  ];
  if ((schema.required ?? []).length > 0) {
    mutations.push(
      fc.tuple(valid, fc.constantFrom(...(schema.required as string[]))).map(([args, drop]) => {
        const { [drop]: _dropped, ...rest } = args;
        return rest;
      }),
    );
  }
  if (names.length > 0) {
    const wrongOne = fc.oneof(
      ...names.map((name) => fc.tuple(fc.constant(name), invalidOf(properties[name] as JsonSchema))),
    );
    mutations.push(fc.tuple(valid, wrongOne).map(([args, [name, value]]) => ({ ...args, [name]: value })));
  }
  return fc.oneof(...mutations);
}
