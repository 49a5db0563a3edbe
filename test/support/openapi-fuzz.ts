// A small, generic OpenAPI-to-fast-check helper for fuzz tests: reads the operations of a service's
// /openapi.json and makes arbitraries of requests that are (a) certainly invalid by the schema, one part at a
// time (a path or query parameter, or the body), or (b) valid in shape but free in value. It carries its
// own little JSON Schema checker (the keywords TypeBox emits) as an oracle independent of the server's Ajv,
// lenient where unsure, so a value it calls invalid is invalid for the server too.
import http from 'node:http';
import fc from 'fast-check';

export interface JsonSchema {
  type?: string | string[];
  properties?: Record<string, JsonSchema>;
  required?: string[];
  additionalProperties?: boolean | JsonSchema;
  items?: JsonSchema;
  enum?: unknown[];
  const?: unknown;
  anyOf?: JsonSchema[];
  pattern?: string;
  format?: string;
  minLength?: number;
  maxLength?: number;
  minimum?: number;
  maximum?: number;
  exclusiveMinimum?: number;
  exclusiveMaximum?: number;
  minItems?: number;
  maxItems?: number;
  uniqueItems?: boolean;
  nullable?: boolean;
}

export interface Param {
  name: string;
  in: 'path' | 'query' | 'header' | 'cookie';
  required: boolean;
  schema: JsonSchema;
}

export interface Operation {
  method: 'GET' | 'POST' | 'PUT' | 'DELETE' | 'PATCH';
  /** The OpenAPI path, e.g. /{ws}/vms/{name}/ */
  path: string;
  params: Param[];
  body?: JsonSchema;
  label: string;
}

interface OpenApiDoc {
  paths: Record<
    string,
    Record<
      string,
      { parameters?: Param[]; requestBody?: { content?: Record<string, { schema?: JsonSchema }> } }
    >
  >;
}

/** Every operation of an OpenAPI document. */
export function operationsOf(doc: unknown): Operation[] {
  const out: Operation[] = [];
  for (const [path, ops] of Object.entries((doc as OpenApiDoc).paths)) {
    for (const [m, op] of Object.entries(ops)) {
      const method = m.toUpperCase() as Operation['method'];
      if (!['GET', 'POST', 'PUT', 'DELETE', 'PATCH'].includes(method)) continue;
      const body = op.requestBody?.content?.['application/json']?.schema;
      out.push({ method, path, params: op.parameters ?? [], body, label: `${method} ${path}` });
    }
  }
  return out;
}

// ---------------------------------------------------------------------------------------------------------
// The oracle: does a value conform to a schema?

const codePoints = (s: string) => [...s].length;

function typeIs(t: string, v: unknown): boolean {
  switch (t) {
    case 'string':
      return typeof v === 'string';
    case 'integer':
      return typeof v === 'number' && Number.isInteger(v);
    case 'number':
      return typeof v === 'number' && Number.isFinite(v);
    case 'boolean':
      return typeof v === 'boolean';
    case 'null':
      return v === null;
    case 'array':
      return Array.isArray(v);
    case 'object':
      return typeof v === 'object' && v !== null && !Array.isArray(v);
    default:
      return true;
  }
}

const regexCache = new Map<string, RegExp>();
function regex(pattern: string): RegExp {
  let r = regexCache.get(pattern);
  if (!r) regexCache.set(pattern, (r = new RegExp(pattern, 'u')));
  return r;
}

/** True when `v` conforms to `s` (for the keywords used here; unknown formats count as satisfied). */
export function conforms(s: JsonSchema, v: unknown): boolean {
  if (v === undefined) return false;
  if (v === null && s.nullable) return true;
  if (s.anyOf && !s.anyOf.some((b) => conforms(b, v))) return false;
  if (s.enum && !s.enum.some((e) => e === v)) return false;
  if (s.const !== undefined && s.const !== v) return false;
  const types = s.type === undefined ? undefined : Array.isArray(s.type) ? s.type : [s.type];
  if (types && !types.some((t) => typeIs(t, v))) return false;
  if (typeof v === 'string') {
    const n = codePoints(v);
    if (s.minLength !== undefined && n < s.minLength) return false;
    if (s.maxLength !== undefined && n > s.maxLength) return false;
    if (s.pattern !== undefined && !regex(s.pattern).test(v)) return false;
    // Lenient: anything with an @ may be an email; only a string without one is certainly not.
    if (s.format === 'email' && !v.includes('@')) return false;
  }
  if (typeof v === 'number') {
    if (!Number.isFinite(v)) return false;
    if (s.minimum !== undefined && v < s.minimum) return false;
    if (s.maximum !== undefined && v > s.maximum) return false;
    if (s.exclusiveMinimum !== undefined && v <= s.exclusiveMinimum) return false;
    if (s.exclusiveMaximum !== undefined && v >= s.exclusiveMaximum) return false;
  }
  if (Array.isArray(v)) {
    if (s.minItems !== undefined && v.length < s.minItems) return false;
    if (s.maxItems !== undefined && v.length > s.maxItems) return false;
    if (s.uniqueItems && new Set(v.map((x) => JSON.stringify(x))).size !== v.length) return false;
    if (s.items && !v.every((x) => conforms(s.items!, x))) return false;
  }
  if (typeIs('object', v) && (s.properties || s.required || s.additionalProperties === false)) {
    const o = v as Record<string, unknown>;
    for (const k of s.required ?? [])
      if (!Object.prototype.hasOwnProperty.call(o, k) || o[k] === undefined) return false;
    for (const [k, x] of Object.entries(o)) {
      const ps = s.properties?.[k];
      if (ps) {
        if (!conforms(ps, x)) return false;
      } else if (s.additionalProperties === false) return false;
    }
  }
  return true;
}

// ---------------------------------------------------------------------------------------------------------
// Nasty values.

/** Strings that break names, paths, shells, XML, SQL, terminals and Unicode handling. */
export const NASTY_STRINGS: string[] = [
  '',
  ' ',
  '.',
  '..',
  '/',
  '../etc/passwd',
  '..\\..\\windows\\system32',
  '%2e%2e',
  '%2e%2e%2f',
  '%00',
  'a/b',
  'a b',
  'a;reboot',
  '$(reboot)',
  '`id`',
  '| id',
  '&& id',
  "'; DROP TABLE users; --",
  '"',
  "'",
  '\\',
  '<name>x</name>',
  ']]><x/>',
  '<!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]>',
  '&amp;',
  '\u0000',
  'nul\u0000byte',
  '\n',
  'a\nb',
  '\r\n',
  '\t',
  '\u001b[31mred',
  '\u007f',
  '\u0085',
  '\u2028',
  '\u202eevil',
  '\ufeffbom',
  'zero\u200bwidth',
  'é',
  'naïve',
  '日本語',
  '🚀',
  'ｆｕｌｌｗｉｄｔｈ',
  'İstanbul',
  'a\u0301',
  '\ud800',
  '{{7*7}}',
  '${jndi:ldap://x}',
  'x'.repeat(65),
  'x'.repeat(257),
  'x'.repeat(1025),
  'x'.repeat(5000),
];

/** Path segments sent exactly as written (traversal, encoded traversal, broken percent-encoding). */
export const RAW_SEGMENTS: string[] = [
  '..',
  '.',
  '%2e%2e',
  '%2E%2E',
  '%2e',
  '..%2f',
  '%2e%2e%2f%2e%2e%2fetc%2fpasswd',
  '%2F',
  'a%2Fb',
  '%00',
  'a%00b',
  '%ZZ',
  '%',
  '%E0%A4%A',
  '%C0%AE%C0%AE',
  '%252e%252e',
  '%ED%A0%80',
  '%0d%0aSet-Cookie:%20x=1',
];

/** Numbers at and past every edge. */
export const NASTY_NUMBERS: number[] = [
  0,
  -1,
  1.5,
  -0.5,
  1e-300,
  2 ** 31,
  -(2 ** 31),
  2 ** 53 + 2,
  -(2 ** 53) - 2,
  1e308,
  -1e308,
  Number.MAX_VALUE,
];

/** One value of each JSON type, for "wrong type" cases. */
export const TYPE_SAMPLES: unknown[] = [
  'text',
  '',
  '1',
  'true',
  0,
  7,
  -3,
  2.5,
  true,
  false,
  null,
  [],
  [1, 'a'],
  {},
  { a: 1 },
  [[[]]],
  [{}],
];

/** Bodies that are not valid JSON (or are JSON the parser must refuse: prototype poisoning). */
export const BAD_JSON_TEXTS: string[] = [
  '{',
  '{"name":',
  '{"a":1,}',
  "{'a':1}",
  '{"a":1}}',
  'nul',
  'undefined',
  '{"a":NaN}',
  '{"a":Infinity}',
  '\u0000',
  '\ufeff{"a":',
  '{"a":"\\x41"}',
  '{"a":"unterminated}',
  '{"__proto__":{"kloudak_admin":true}}',
  '{"constructor":{"prototype":{"kloudak_admin":true}}}',
];

// ---------------------------------------------------------------------------------------------------------
// Arbitraries.

/** Per-key replacements for generated valid values: a property or parameter name, or `<name>[]` for items. */
export type Hints = Record<string, fc.Arbitrary<unknown>>;

const stripAssertions = (p: string) => p.replace(/\(\?<?[!=](?:[^()\\]|\\.)*\)/g, '');

function validString(s: JsonSchema): fc.Arbitrary<string> {
  if (s.format === 'email') return fc.emailAddress().filter((x) => conforms(s, x));
  const max = Math.min(s.maxLength ?? 64, 256);
  let base: fc.Arbitrary<string>;
  if (s.pattern) {
    try {
      base = fc.stringMatching(new RegExp(stripAssertions(s.pattern)));
    } catch {
      base = fc.string({ minLength: s.minLength ?? 0, maxLength: max });
    }
  } else base = fc.string({ minLength: s.minLength ?? 0, maxLength: max });
  return base.filter((x) => conforms(s, x));
}

/** Values that conform to `s`; `hints` replace the value of a named property, parameter or array item. */
export function validOf(s: JsonSchema, hints: Hints = {}, key?: string): fc.Arbitrary<unknown> {
  if (key !== undefined && hints[key]) return hints[key];
  if (s.anyOf) return fc.oneof(...s.anyOf.map((b) => validOf(b, hints, key)));
  if (s.enum) return fc.constantFrom(...s.enum);
  if (s.const !== undefined) return fc.constant(s.const);
  const type = Array.isArray(s.type) ? s.type[0] : s.type;
  switch (type) {
    case 'string':
      return validString(s);
    case 'integer':
      return fc.integer({
        min: Math.ceil(s.exclusiveMinimum !== undefined ? s.exclusiveMinimum + 1 : (s.minimum ?? -1e6)),
        max: Math.floor(s.exclusiveMaximum !== undefined ? s.exclusiveMaximum - 1 : (s.maximum ?? 1e6)),
      });
    case 'number':
      return fc
        .double({
          min: s.minimum ?? s.exclusiveMinimum ?? -1e6,
          max: s.maximum ?? s.exclusiveMaximum ?? 1e6,
          noNaN: true,
          noDefaultInfinity: true,
        })
        .filter((x) => conforms(s, x));
    case 'boolean':
      return fc.boolean();
    case 'null':
      return fc.constant(null);
    case 'array': {
      const item = validOf(s.items ?? {}, hints, key === undefined ? undefined : `${key}[]`);
      const o = { minLength: s.minItems ?? 0, maxLength: Math.min(s.maxItems ?? 5, 5) };
      return (
        s.uniqueItems ? fc.uniqueArray(item, { ...o, selector: (x) => JSON.stringify(x) }) : fc.array(item, o)
      ).filter((x) => conforms(s, x));
    }
    case 'object': {
      const props = s.properties ?? {};
      const model: Record<string, fc.Arbitrary<unknown>> = {};
      for (const [k, ps] of Object.entries(props)) model[k] = validOf(ps, hints, k);
      return fc.record(model, { requiredKeys: (s.required ?? []).filter((k) => k in props) });
    }
    default:
      return fc.jsonValue({ maxDepth: 2 });
  }
}

/** Strings that do not conform to a string schema (empty when every string does). */
function invalidStrings(s: JsonSchema): fc.Arbitrary<string> | undefined {
  const cands = [...NASTY_STRINGS];
  if (s.maxLength !== undefined) cands.push('n'.repeat(s.maxLength + 1), 'n'.repeat(s.maxLength * 4 + 7));
  if (s.enum)
    cands.push(...s.enum.map((e) => `${String(e)}x`), ...s.enum.map((e) => String(e).toLowerCase()));
  if (s.format === 'email') cands.push('no-at-sign', 'user.example.test');
  const bad = [...new Set(cands)].filter((x) => !conforms(s, x));
  // Near misses: a valid value with one nasty character spliced in.
  const spliced = validString(
    s.enum ? { type: 'string', pattern: s.pattern, maxLength: s.maxLength } : s,
  ).chain((ok) =>
    fc
      .tuple(
        fc.nat({ max: ok.length }),
        fc.constantFrom('/', ' ', '\u0000', '\n', '%', '..', '/..', 'é', '\ud83d\ude80', ';', '<', '&'),
      )
      .map(([at, c]) => ok.slice(0, at) + c + ok.slice(at)),
  );
  const arbs: fc.Arbitrary<string>[] = [];
  if (bad.length) arbs.push(fc.constantFrom(...bad));
  if (s.pattern || s.enum) arbs.push(spliced.filter((x) => !conforms(s, x)));
  if (!arbs.length) return undefined;
  return fc.oneof(...arbs);
}

/**
 * Values that do not conform to `s`: wrong types, out-of-range numbers, bad strings, arrays with a bad item,
 * too many or repeated items, objects missing a required property or with one bad property. Undefined when
 * nothing can violate the schema (an empty schema).
 */
export function invalidOf(s: JsonSchema, hints: Hints = {}): fc.Arbitrary<unknown> | undefined {
  const arbs: fc.Arbitrary<unknown>[] = [];
  const wrongTypes = TYPE_SAMPLES.filter((x) => !conforms(s, x));
  if (wrongTypes.length) arbs.push(fc.constantFrom(...wrongTypes));
  const type = Array.isArray(s.type) ? s.type[0] : s.type;
  if (type === 'string' || s.enum || s.anyOf) {
    const str = invalidStrings(s.anyOf ? { type: 'string', enum: s.anyOf.flatMap((b) => b.enum ?? []) } : s);
    if (str) arbs.push(str);
  }
  if (type === 'integer' || type === 'number') {
    const edges = [...NASTY_NUMBERS];
    for (const b of [s.minimum, s.maximum, s.exclusiveMinimum, s.exclusiveMaximum])
      if (b !== undefined) edges.push(b - 1, b + 1, b - 0.5, b + 0.5, b);
    const bad = edges.filter((x) => !conforms(s, x));
    if (bad.length) arbs.push(fc.constantFrom(...bad));
  }
  if (type === 'array') {
    const item = s.items ?? {};
    const badItem = invalidOf(item);
    if (badItem) arbs.push(fc.tuple(validOf(s, hints), badItem).map(([a, x]) => [...(a as unknown[]), x]));
    if (s.maxItems !== undefined) {
      const n = s.maxItems + 1;
      arbs.push(
        fc.uniqueArray(validOf(item), { minLength: n, maxLength: n, selector: (x) => JSON.stringify(x) }),
      );
    }
    if (s.uniqueItems) arbs.push(validOf(item).map((x) => [x, x]));
  }
  if (type === 'object') {
    const props = s.properties ?? {};
    const required = (s.required ?? []).filter((k) => k in props);
    const base = validOf(s, hints) as fc.Arbitrary<Record<string, unknown>>;
    if (required.length)
      arbs.push(
        fc.tuple(base, fc.constantFrom(...required)).map(([o, k]) => {
          const c = { ...o };
          delete c[k];
          return c;
        }),
      );
    const breakable = Object.entries(props)
      .map(([k, ps]) => [k, invalidOf(ps, hints)] as const)
      .filter((e): e is readonly [string, fc.Arbitrary<unknown>] => e[1] !== undefined);
    if (breakable.length)
      arbs.push(
        fc.tuple(base, fc.nat({ max: breakable.length - 1 })).chain(([o, i]) => {
          const [k, bad] = breakable[i];
          return bad.map((x) => ({ ...o, [k]: x }));
        }),
      );
  }
  if (!arbs.length) return undefined;
  return fc.oneof(...arbs).filter((x) => !conforms(s, x));
}

/** Properties no schema here declares, to sprinkle onto bodies (harmless unless the server trusts them). */
export const EXTRA_FIELDS: fc.Arbitrary<Record<string, unknown>> = fc.dictionary(
  fc.constantFrom(
    'is_admin',
    'kloudak_admin',
    'kloudak_service',
    'password_hash',
    'id',
    'user_id',
    'workspace_id',
    'host',
    'vlan',
    'state',
    'ip',
    'username',
    'constructor',
    'prototype',
    'toString',
    'x'.repeat(300),
    '',
  ),
  fc.oneof(fc.jsonValue({ maxDepth: 2 }), fc.constant(true)),
  { maxKeys: 3 },
);

// ---------------------------------------------------------------------------------------------------------
// Requests.

export type Segment = { value: string } | { raw: string };

export interface Draft {
  params: Record<string, Segment>;
  query: [string, string][];
  /** JSON value, raw text with a content type, or nothing. */
  body?: { json: unknown } | { raw: string | Buffer; type?: string };
  /** What makes the request wrong (for messages). */
  why: string;
}

function paramSchema(p: Param): JsonSchema {
  return p.schema ?? {};
}

function decodeOrUndefined(raw: string): string | undefined {
  try {
    return decodeURIComponent(raw);
  } catch {
    return undefined;
  }
}

/** The valid parts of a request (params from hints first), to be combined with one invalid part. */
function validParts(op: Operation, hints: Hints) {
  const path = op.params.filter((p) => p.in === 'path');
  const model: Record<string, fc.Arbitrary<unknown>> = {};
  for (const p of path) model[p.name] = validOf(paramSchema(p), hints, p.name);
  return fc
    .record(model)
    .map((vals) => Object.fromEntries(Object.entries(vals).map(([k, v]) => [k, { value: String(v) }])));
}

/**
 * Requests certainly invalid by the operation's schema: exactly one path parameter, query parameter or
 * the body is bad (or the body is not JSON, or not of a JSON content type). Undefined when the operation
 * takes nothing that can be wrong.
 */
export function invalidDraftsOf(op: Operation, hints: Hints = {}): fc.Arbitrary<Draft> | undefined {
  const parts = validParts(op, hints);
  const validBody = op.body ? validOf(op.body, hints) : undefined;
  const withBody = (d: Omit<Draft, 'body'>) =>
    validBody ? validBody.map((b): Draft => ({ ...d, body: { json: b } })) : fc.constant<Draft>(d);
  const arbs: fc.Arbitrary<Draft>[] = [];
  for (const p of op.params) {
    const s = paramSchema(p);
    if (p.in === 'path') {
      const rawBad = RAW_SEGMENTS.filter((r) => {
        const d = decodeOrUndefined(r);
        return d === undefined || !conforms(s, d);
      });
      const strings = invalidStrings(s);
      const segs: fc.Arbitrary<Segment>[] = [];
      if (strings) segs.push(strings.map((v) => ({ value: v })));
      if (rawBad.length) segs.push(fc.constantFrom(...rawBad).map((raw) => ({ raw })));
      if (!segs.length) continue;
      arbs.push(
        fc
          .tuple(parts, fc.oneof(...segs))
          .chain(([ps, seg]) =>
            withBody({ params: { ...ps, [p.name]: seg }, query: [], why: `path ${p.name}` }),
          ),
      );
    } else if (p.in === 'query') {
      const strings = invalidStrings(s);
      const qs: fc.Arbitrary<[string, string][]>[] = [
        fc.tuple(validOf(s, hints, p.name), validOf(s, hints, p.name)).map(([a, b]) => [
          [p.name, String(a)],
          [p.name, String(b)],
        ]),
      ];
      if (strings) qs.push(strings.map((v) => [[p.name, v]]));
      arbs.push(
        fc
          .tuple(parts, fc.oneof(...qs))
          .chain(([ps, q]) => withBody({ params: ps, query: q, why: `query ${p.name}` })),
      );
    }
  }
  if (op.body) {
    const badBody = invalidOf(op.body, hints);
    if (badBody)
      arbs.push(
        fc.tuple(parts, badBody, EXTRA_FIELDS).map(([ps, b, extra]) => ({
          params: ps,
          query: [],
          body: { json: typeIs('object', b) ? { ...extra, ...(b as object) } : b },
          why: 'body',
        })),
      );
    const raws: fc.Arbitrary<Draft['body']>[] = [
      fc.constantFrom(...BAD_JSON_TEXTS).map((raw) => ({ raw, type: 'application/json' })),
      fc.constant({ raw: Buffer.from([0x7b, 0xff, 0xfe, 0x7d]), type: 'application/json' }),
      fc.constant({ raw: '', type: 'application/json' }),
      // A JSON body announced as something else: a string to the schema, or a type nobody parses.
      fc
        .tuple(
          validBody!,
          fc.constantFrom(
            'text/plain',
            'application/xml',
            'multipart/form-data; boundary=x',
            'application/octet-stream',
            'image/png',
            'application/jsonx',
          ),
        )
        .map(([b, type]) => ({ raw: JSON.stringify(b), type })),
      // No content type at all.
      validBody!.map((b) => ({ raw: JSON.stringify(b) })),
    ];
    arbs.push(
      fc
        .tuple(parts, fc.oneof(...raws))
        .map(([ps, body]) => ({ params: ps, query: [], body, why: 'raw body' })),
    );
  }
  if (!arbs.length) return undefined;
  return fc.oneof(...arbs);
}

/** Requests valid in shape (every part conforms) with values from `hints` where given: the right, the wrong and the odd. */
export function shapedDraftsOf(op: Operation, hints: Hints = {}): fc.Arbitrary<Draft> {
  const query = op.params.filter((p) => p.in === 'query');
  const qModel: Record<string, fc.Arbitrary<unknown>> = {};
  for (const p of query) qModel[p.name] = validOf(paramSchema(p), hints, p.name);
  const q = fc.record(qModel, { requiredKeys: query.filter((p) => p.required).map((p) => p.name) });
  const body = op.body
    ? fc
        .tuple(validOf(op.body, hints), fc.option(EXTRA_FIELDS, { freq: 3 }))
        .map(([b, extra]) => (extra && typeIs('object', b) ? { ...extra, ...(b as object) } : b))
    : fc.constant(undefined);
  return fc.tuple(validParts(op, hints), q, body).map(([params, qv, b]) => ({
    params,
    query: Object.entries(qv).map(([k, v]) => [k, String(v)] as [string, string]),
    body: b === undefined ? undefined : { json: b },
    why: 'valid shape',
  }));
}

function encodeSegment(s: Segment): string {
  if ('raw' in s) return s.raw;
  try {
    return encodeURIComponent(s.value);
  } catch {
    return '%ED%A0%80'; // a lone surrogate cannot be encoded: send its UTF-8 bytes
  }
}

const encodeQuery = (v: string) => {
  try {
    return encodeURIComponent(v);
  } catch {
    return '%ED%A0%80';
  }
};

export interface Built {
  method: string;
  path: string;
  headers: Record<string, string>;
  body?: string | Buffer;
}

/** The HTTP request a draft describes, with the given auth headers. */
export function build(op: Operation, d: Draft, auth: Record<string, string> = {}): Built {
  let path = op.path.replace(/\{([^}]+)\}/g, (_, name: string) =>
    encodeSegment(d.params[name] ?? { value: '' }),
  );
  if (d.query.length) path += `?${d.query.map(([k, v]) => `${encodeQuery(k)}=${encodeQuery(v)}`).join('&')}`;
  const headers: Record<string, string> = { ...auth };
  let body: string | Buffer | undefined;
  if (d.body && 'json' in d.body) {
    body = JSON.stringify(d.body.json);
    headers['content-type'] = 'application/json';
  } else if (d.body) {
    body = d.body.raw;
    if (d.body.type) headers['content-type'] = d.body.type;
  }
  return { method: op.method, path, headers, body };
}

export interface Answer {
  status: number;
  headers: http.IncomingHttpHeaders;
  text: string;
  /** Parsed JSON, or undefined when the answer is not JSON. */
  json?: unknown;
}

// An idle socket is closed by this side after 5 s, before the services close theirs (fastify: 72 s).
const agent = new http.Agent({ keepAlive: true, maxSockets: 4, timeout: 5000 });

/**
 * Sends a request exactly as built (no URL normalisation: `..` and `%2e%2e` reach the server). A kept-alive
 * socket the server closed just as the request went out is reset before the server reads a byte (the race
 * Node's http.Agent documents, seen once here: PGlite's queries hold the shared event loop for long
 * stretches): that request goes again once, on a new connection. A reset on a new connection is an answer.
 */
export async function send(baseUrl: string, r: Built): Promise<Answer> {
  try {
    return await sendOn(baseUrl, r, agent);
  } catch (e) {
    if ((e as { reusedSocket?: boolean }).reusedSocket) return sendOn(baseUrl, r, false);
    throw e;
  }
}

function sendOn(baseUrl: string, r: Built, via: http.Agent | false): Promise<Answer> {
  const u = new URL(baseUrl);
  return new Promise((resolve, reject) => {
    const headers: Record<string, string | number> = { ...r.headers };
    if (r.body !== undefined) headers['content-length'] = Buffer.byteLength(r.body);
    const req = http.request(
      { host: u.hostname, port: u.port, method: r.method, path: r.path, headers, agent: via },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          let json: unknown;
          try {
            json = text ? JSON.parse(text) : undefined;
          } catch {
            json = undefined;
          }
          resolve({ status: res.statusCode ?? 0, headers: res.headers, text, json });
        });
        res.on('error', reject);
      },
    );
    req.on('error', (e: NodeJS.ErrnoException) =>
      reject(Object.assign(e, { reusedSocket: req.reusedSocket && e.code === 'ECONNRESET' })),
    );
    if (r.body !== undefined) req.write(r.body);
    req.end();
  });
}

/** Why an answer breaks the error contract ({error, field?} JSON on every 4xx), or undefined when it keeps it. */
export function errorContractBreach(a: Answer): string | undefined {
  if (a.status < 400) return undefined;
  const b = a.json as Record<string, unknown> | undefined;
  if (!b || typeof b !== 'object' || Array.isArray(b)) return `not a JSON object: ${a.text.slice(0, 200)}`;
  if (typeof b.error !== 'string' || !b.error) return `no error message: ${a.text.slice(0, 200)}`;
  const extra = Object.keys(b).filter((k) => k !== 'error' && k !== 'field');
  if (extra.length) return `keys beyond error and field (${extra.join(', ')}): ${a.text.slice(0, 200)}`;
  if (b.field !== undefined && typeof b.field !== 'string')
    return `field is not a string: ${a.text.slice(0, 200)}`;
  return undefined;
}

export function describe(b: Built): string {
  const body = b.body === undefined ? '' : ` ${String(b.body).slice(0, 160)}`;
  return `${b.method} ${b.path.slice(0, 200)}${b.headers['content-type'] ? ` [${b.headers['content-type']}]` : ''}${body}`;
}

/** Closes the keep-alive sockets (call at the end of a test file). */
export function closeAgent(): void {
  agent.destroy();
}
