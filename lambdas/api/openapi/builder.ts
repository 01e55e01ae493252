import * as z from 'zod';
import { currencyCode } from '../../platform/currency';

/**
 * The small vocabulary the OpenAPI document (document.ts) is written in: an operation names its zod schemas (the
 * very ones the routes validate with) and its answers; `SchemaCollector` turns the schemas into
 * `components.schemas` with zod 4's JSON Schema output, and `operationObject` turns a spec into an OpenAPI 3.1
 * Operation Object. Answers of the same status (a 409 of the idempotency store and one of the route) are merged
 * into one response with one named example each.
 */

/** A JSON Schema or OpenAPI object, as plain JSON. */
export type Json = { [key: string]: unknown };

export type Io = 'input' | 'output';

/** A body's schema: a named zod schema (a component), or a JSON Schema written here (text bodies). */
export type SchemaUse =
  | { readonly name: string; readonly zod: z.ZodType; readonly io: Io }
  | { readonly json: Json };

export interface ExampleSpec {
  readonly summary?: string;
  readonly value: unknown;
}

/** Header names of `components.headers` (see document.ts). */
export type HeaderName =
  | 'Idempotent-Replayed'
  | 'Retry-After'
  | 'WWW-Authenticate'
  | 'Allow'
  | 'Content-Security-Policy'
  | 'Cache-Control'
  | 'ETag';

export interface Answer {
  readonly status: number;
  readonly description: string;
  readonly content?: {
    readonly mediaType: string;
    readonly schema: SchemaUse;
    readonly examples: Readonly<Record<string, ExampleSpec>>;
  };
  readonly headers?: readonly HeaderName[];
}

export interface ParamSpec {
  readonly name: string;
  readonly description: string;
  readonly schema: Json;
  readonly example: string;
}

export type Security = 'store' | 'admin' | 'none';

export interface OperationSpec {
  readonly method: 'get' | 'post' | 'put' | 'patch' | 'delete';
  /** As the router's table writes it: `/v1/webhooks/{id}`. */
  readonly path: string;
  readonly operationId: string;
  readonly summary: string;
  readonly description?: string;
  readonly tags: readonly string[];
  readonly security: Security;
  readonly pathParams?: readonly ParamSpec[];
  /** The route's own query schema (a zod object): one parameter per property. */
  readonly query?: {
    readonly schema: z.ZodObject;
    readonly descriptions: Readonly<Record<string, string>>;
    readonly examples?: Readonly<Record<string, string>>;
  };
  /** Takes an `Idempotency-Key` header. */
  readonly idempotencyKey?: string;
  readonly body?: {
    readonly mediaType: string;
    readonly schema: SchemaUse;
    readonly required: boolean;
    readonly description?: string;
    readonly examples: Readonly<Record<string, ExampleSpec>>;
  };
  readonly answers: readonly Answer[];
}

const SCHEMA_BASE = '#/components/schemas/';

/**
 * JSON Schema keywords for request schemas whose zod form says too little: custom headers are checked by a
 * transform (endpoint-headers.ts), and a currency by a refinement against the runtime's ISO 4217 list.
 */
const INPUT_OVERRIDES = new Map<z.ZodType, Json>([
  [
    currencyCode,
    {
      type: 'string',
      pattern: '^[A-Za-z]{3}$',
      description:
        'An ISO 4217 currency code, in either case (`usd` or `USD`); answers give it in upper case. Testing and precious-metal codes (XTS, XAU, …) are refused.',
      examples: ['USD', 'eur', 'JPY'],
    },
  ],
]);

/** Adds a JSON Schema override for a request schema node (see INPUT_OVERRIDES). */
export function overrideInputSchema(schema: z.ZodType, json: Json): void {
  INPUT_OVERRIDES.set(schema, json);
}

/** Collects the named schemas the operations use, and converts them once into `components.schemas`. */
export class SchemaCollector {
  private readonly registries = {
    input: z.registry<{ id: string }>(),
    output: z.registry<{ id: string }>(),
  };
  private readonly byName = new Map<string, { zod: z.ZodType; io: Io }>();

  /** Registers a shared schema so that every schema holding it refers to it by name. */
  define(name: string, zod: z.ZodType, io: Io): void {
    const known = this.byName.get(name);
    if (known) {
      if (known.zod !== zod || known.io !== io) throw new Error(`Two schemas are named ${name}.`);
      return;
    }
    const other = this.registries[io].get(zod);
    if (other) throw new Error(`The schema ${name} is already named ${other.id}.`);
    this.byName.set(name, { zod, io });
    this.registries[io].add(zod, { id: name });
  }

  /** The schema of a body: a `$ref` to its component, or the JSON Schema as written. */
  use(schema: SchemaUse): Json {
    if ('json' in schema) return schema.json;
    this.define(schema.name, schema.zod, schema.io);
    return { $ref: SCHEMA_BASE + schema.name };
  }

  /** One schema as JSON Schema, inline (query parameters). */
  inline(zod: z.ZodType, io: Io): Json {
    return clean(z.toJSONSchema(zod, jsonSchemaOptions(io)) as Json);
  }

  /** Every named schema, as `components.schemas`. */
  components(): Record<string, Json> {
    const schemas: Record<string, Json> = {};
    for (const io of ['input', 'output'] as const) {
      const converted = z.toJSONSchema(this.registries[io], {
        ...jsonSchemaOptions(io),
        uri: (id) => SCHEMA_BASE + id,
      }) as { schemas: Record<string, Json> };
      for (const [name, schema] of Object.entries(converted.schemas)) {
        schemas[name] = io === 'output' ? withoutTimePatterns(clean(schema)) : clean(schema);
      }
    }
    return Object.fromEntries(Object.entries(schemas).sort(([a], [b]) => a.localeCompare(b)));
  }
}

function jsonSchemaOptions(io: Io) {
  return {
    target: 'draft-2020-12' as const,
    io,
    // A transform's output or a custom check has no JSON Schema: the input side (or any value) stands for it.
    unrepresentable: 'any' as const,
    override: (context: { zodSchema: unknown; jsonSchema: Json }) => {
      const json = io === 'input' ? INPUT_OVERRIDES.get(context.zodSchema as z.ZodType) : undefined;
      if (json) {
        for (const key of Object.keys(context.jsonSchema)) delete context.jsonSchema[key];
        Object.assign(context.jsonSchema, json);
      }
    },
  };
}

/** Component schemas are parts of the document, not documents: no `$schema` or `$id` of their own. */
function clean(schema: Json): Json {
  const { $schema: _schema, $id: _id, ...rest } = schema;
  return rest;
}

/**
 * An answer's times are the API's own ISO strings: `format: date-time` says it, and zod's 400-character pattern
 * for what it accepts in a request would only make the document heavy.
 */
function withoutTimePatterns(schema: Json): Json {
  const walk = (value: unknown): unknown => {
    if (Array.isArray(value)) return value.map(walk);
    if (value === null || typeof value !== 'object') return value;
    const node = value as Json;
    const result: Json = {};
    for (const [key, child] of Object.entries(node)) {
      if (key === 'pattern' && node.format === 'date-time') continue;
      result[key] = key === 'examples' || key === 'const' || key === 'enum' ? child : walk(child);
    }
    return result;
  };
  return walk(schema) as Json;
}

/** The answers of one status merged: descriptions joined, examples side by side, headers united. */
export function mergeAnswers(answers: readonly Answer[]): Map<number, Answer> {
  const merged = new Map<number, Answer>();
  for (const answer of answers) {
    const known = merged.get(answer.status);
    if (!known) {
      merged.set(answer.status, answer);
      continue;
    }
    if (known.content && answer.content && known.content.mediaType !== answer.content.mediaType) {
      throw new Error(
        `Status ${answer.status} answers both ${known.content.mediaType} and ${answer.content.mediaType}: use contentAlternatives.`,
      );
    }
    const examples = { ...(known.content?.examples ?? {}) };
    for (const [name, example] of Object.entries(answer.content?.examples ?? {})) {
      if (!(name in examples)) examples[name] = example;
    }
    const content = known.content ?? answer.content;
    merged.set(answer.status, {
      status: answer.status,
      description: known.description.includes(answer.description)
        ? known.description
        : `${known.description}; ${answer.description}`,
      ...(content ? { content: { ...content, examples } } : {}),
      headers: [...new Set([...(known.headers ?? []), ...(answer.headers ?? [])])],
    });
  }
  return merged;
}

/**
 * Answers that share a status but not a media type (a store's 429 is problem+json, API Gateway's stage throttle
 * answers plain JSON): kept apart by `mergeAnswers`, joined here into one response with two contents.
 */
function responseObject(answers: readonly Answer[], schemas: SchemaCollector): Json {
  const content: Record<string, Json> = {};
  const headers = new Set<HeaderName>();
  const descriptions: string[] = [];
  for (const answer of answers) {
    if (!descriptions.includes(answer.description)) descriptions.push(answer.description);
    for (const header of answer.headers ?? []) headers.add(header);
    if (!answer.content) continue;
    const examples = Object.entries(answer.content.examples);
    content[answer.content.mediaType] = {
      schema: schemas.use(answer.content.schema),
      ...(examples.length === 1 && examples[0]
        ? { example: examples[0][1].value }
        : {
            examples: Object.fromEntries(examples.map(([name, example]) => [name, exampleObject(example)])),
          }),
    };
  }
  return {
    description: descriptions.join('; '),
    ...(headers.size > 0
      ? {
          headers: Object.fromEntries(
            [...headers].sort().map((name) => [name, { $ref: `#/components/headers/${name}` }]),
          ),
        }
      : {}),
    ...(Object.keys(content).length > 0 ? { content } : {}),
  };
}

function exampleObject(example: ExampleSpec): Json {
  return { ...(example.summary ? { summary: example.summary } : {}), value: example.value };
}

/** The answers of an operation as OpenAPI `responses`, by status. */
function responsesObject(answers: readonly Answer[], schemas: SchemaCollector): Json {
  const byStatusAndType = new Map<string, Answer[]>();
  for (const answer of answers) {
    const key = `${answer.status} ${answer.content?.mediaType ?? ''}`;
    byStatusAndType.set(key, [...(byStatusAndType.get(key) ?? []), answer]);
  }
  const byStatus = new Map<number, Answer[]>();
  for (const group of byStatusAndType.values()) {
    const [merged] = mergeAnswers(group).values();
    if (!merged) continue;
    byStatus.set(merged.status, [...(byStatus.get(merged.status) ?? []), merged]);
  }
  return Object.fromEntries(
    [...byStatus.entries()]
      .sort(([a], [b]) => a - b)
      .map(([status, group]) => [String(status), responseObject(group, schemas)]),
  );
}

/** One OpenAPI 3.1 Operation Object. */
export function operationObject(spec: OperationSpec, schemas: SchemaCollector): Json {
  const parameters: Json[] = [];
  for (const param of spec.pathParams ?? []) {
    parameters.push({
      name: param.name,
      in: 'path',
      required: true,
      description: param.description,
      schema: param.schema,
      example: param.example,
    });
  }
  if (spec.query) {
    const json = schemas.inline(spec.query.schema, 'input') as {
      properties?: Record<string, Json>;
      required?: string[];
    };
    for (const [name, schema] of Object.entries(json.properties ?? {})) {
      const description = spec.query.descriptions[name];
      if (description === undefined)
        throw new Error(`${spec.operationId}: query "${name}" is not described.`);
      const example = spec.query.examples?.[name];
      parameters.push({
        name,
        in: 'query',
        required: json.required?.includes(name) ?? false,
        description,
        schema,
        ...(example !== undefined ? { example } : {}),
      });
    }
  }
  if (spec.idempotencyKey !== undefined) {
    parameters.push({ $ref: '#/components/parameters/IdempotencyKey', description: spec.idempotencyKey });
  }
  const body = spec.body;
  return {
    operationId: spec.operationId,
    summary: spec.summary,
    ...(spec.description ? { description: spec.description } : {}),
    tags: [...spec.tags],
    security: securityOf(spec.security),
    ...(parameters.length > 0 ? { parameters } : {}),
    ...(body
      ? {
          requestBody: {
            required: body.required,
            ...(body.description ? { description: body.description } : {}),
            content: {
              [body.mediaType]: {
                schema: schemas.use(body.schema),
                ...bodyExamples(body.examples),
              },
            },
          },
        }
      : {}),
    responses: responsesObject(spec.answers, schemas),
  };
}

function bodyExamples(examples: Readonly<Record<string, ExampleSpec>>): Json {
  const entries = Object.entries(examples);
  if (entries.length === 1 && entries[0]) return { example: entries[0][1].value };
  return { examples: Object.fromEntries(entries.map(([name, example]) => [name, exampleObject(example)])) };
}

export const SECURITY_SCHEMES = { store: 'storeKey', admin: 'adminKey' } as const;

function securityOf(security: Security): Json[] {
  if (security === 'none') return [];
  return [{ [SECURITY_SCHEMES[security]]: [] }];
}

/** A JSON answer with one example. */
export function json(
  status: number,
  description: string,
  schema: SchemaUse,
  example: unknown,
  headers?: readonly HeaderName[],
): Answer {
  return {
    status,
    description,
    content: {
      mediaType: 'application/json',
      schema,
      examples: { [exampleName(status)]: { value: example } },
    },
    ...(headers ? { headers } : {}),
  };
}

function exampleName(status: number): string {
  return status < 300 ? 'success' : `status${status}`;
}

/** A named output schema (a response's). */
export function out(name: string, zod: z.ZodType): SchemaUse {
  return { name, zod, io: 'output' };
}

/** A named input schema (a request's). */
export function input(name: string, zod: z.ZodType): SchemaUse {
  return { name, zod, io: 'input' };
}

/** A JSON request body with one example. */
export function jsonBody(
  schema: SchemaUse,
  example: unknown,
  options: { required?: boolean; description?: string } = {},
): NonNullable<OperationSpec['body']> {
  return {
    mediaType: 'application/json',
    schema,
    required: options.required ?? true,
    ...(options.description ? { description: options.description } : {}),
    examples: { request: { value: example } },
  };
}
