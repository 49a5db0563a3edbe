// Checking a value against a contract where it arrives (a bus message, an answer of another service), with
// the schema's complaint in the same words the HTTP error table uses ("<field> is required"). Validators are
// compiled once, on first use.
import { Type, type Static, type TSchema } from 'typebox';
import { Compile, type Validator } from 'typebox/compile';

/** What is wrong with a value: the field at fault (dotted path) and a sentence naming it. */
export interface Complaint {
  field?: string;
  message: string;
}

export type Verdict<T> = { ok: true; value: T } | { ok: false; complaint: Complaint };

export interface Checker<T> {
  /** The JSON Schema (for documents and for composing). */
  readonly schema: TSchema;
  is(value: unknown): value is T;
  check(value: unknown): Verdict<T>;
}

interface SchemaError {
  keyword: string;
  instancePath: string;
  params: unknown;
  message: string;
}

const first = (v: unknown): unknown => (Array.isArray(v) ? (v as unknown[])[0] : undefined);
const fieldOf = (path: string, key?: unknown) =>
  [...path.split('/').filter(Boolean), ...(typeof key === 'string' ? [key] : [])].join('.');

/** The first error, in words: "<field> is required", "<field> is not a known field", "<field> must ...". */
export function complaintOf(errors: readonly SchemaError[]): Complaint {
  // "schema is false" repeats what an additionalProperties error says better.
  const e = errors.find((x) => x.keyword !== 'boolean') ?? errors[0];
  if (!e) return { message: 'is invalid' };
  const params = (e.params ?? {}) as Record<string, unknown>;
  if (e.keyword === 'required') {
    const field = fieldOf(e.instancePath, first(params.requiredProperties));
    return { field, message: `${field || 'message'} is required` };
  }
  if (e.keyword === 'additionalProperties') {
    const field = fieldOf(e.instancePath, first(params.additionalProperties));
    return { field, message: `${field || 'message'} is not a known field` };
  }
  const field = fieldOf(e.instancePath);
  // A union of literals (an enum) fails once per literal: say which values it takes.
  const allowed = errors
    .filter((x) => x.keyword === 'const' && x.instancePath === e.instancePath)
    .map((x) => (x.params as { allowedValue?: unknown }).allowedValue);
  if (e.keyword === 'const' && allowed.length > 1)
    return {
      field: field || undefined,
      message: `${field || 'message'} must be one of ${allowed.join(', ')}`,
    };
  return { field: field || undefined, message: `${field || 'message'} ${e.message}` };
}

/** A checker of one schema. */
export function checker<S extends TSchema>(schema: S): Checker<Static<S>> {
  let compiled: Validator | undefined;
  const validator = (): Validator => (compiled ??= Compile<TSchema>(schema));
  function is(value: unknown): value is Static<S> {
    return validator().Check(value);
  }
  return {
    schema,
    is,
    check: (value) =>
      is(value) ? { ok: true, value } : { ok: false, complaint: complaintOf(validator().Errors(value)) },
  };
}

type Tagged = TSchema & { properties: { type: TSchema; method: TSchema } };
const constOf = (s: TSchema): string => String((s as { const?: unknown }).const);

/**
 * A union of messages told apart by their `type` and `method` (literal fields), checked against the one
 * variant they name: the complaint speaks of that variant, not of every member of the union. A new message
 * is one more variant here, and one more entry in the table of whoever handles it.
 */
export function taggedUnion<const V extends readonly Tagged[]>(
  what: string,
  variants: V,
): Checker<Static<V[number]>> & { keys: string[] } {
  const union = Type.Union([...variants]);
  const byKey = new Map(
    variants.map((v) => [`${constOf(v.properties.type)} ${constOf(v.properties.method)}`, checker(v)]),
  );
  const types = [...new Set(variants.map((v) => constOf(v.properties.type)))];
  const methodsOf = (t: string) =>
    variants.filter((v) => constOf(v.properties.type) === t).map((v) => constOf(v.properties.method));
  function is(value: unknown): value is Static<V[number]> {
    return verdict(value).ok;
  }
  function verdict(value: unknown): Verdict<Static<V[number]>> {
    const o = (typeof value === 'object' && value !== null ? value : {}) as Record<string, unknown>;
    const type = typeof o.type === 'string' ? o.type : undefined;
    if (!type || !types.includes(type))
      return {
        ok: false,
        complaint: { field: 'type', message: `type must be one of ${types.join(', ')} on ${what}` },
      };
    const c = byKey.get(`${type} ${String(o.method)}`);
    if (!c)
      return {
        ok: false,
        complaint: {
          field: 'method',
          message: `method must be one of ${methodsOf(type).join(', ')} for type ${type} on ${what}`,
        },
      };
    const r = c.check(value);
    return r.ok ? { ok: true, value: value as Static<V[number]> } : r;
  }
  return { schema: union, is, check: verdict, keys: [...byKey.keys()] };
}
