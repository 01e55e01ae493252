import Ajv2020, { type ErrorObject, type ValidateFunction } from 'ajv/dist/2020';
import addFormats from 'ajv-formats';
import { pathPattern } from '../../../lambdas/api/http/router';
import { buildOpenApiDocument } from '../../../lambdas/api/openapi/document';

/**
 * Checks an answer of the pipeline's API against its OpenAPI document (`GET /openapi.json`, built here from the same
 * code), so that the document cannot drift from what the API answers: every integration test's calls go through
 * `checkResponse` (pipeline-client.ts `call()`, and the tests that fetch the API themselves).
 *
 * - The method and the concrete path find the operation (`/v1/webhooks/ep_…` → `/v1/webhooks/{id}`). A path no
 *   operation has must be the router's 404 problem; a known path with another method its 405 (problem+json, or the
 *   HTML page under /manage).
 * - The status must be documented for the operation (or its `2XX` range, or `default`).
 * - The Content-Type (without parameters) must be one the response documents, and the body must validate against
 *   its schema (ajv, JSON Schema 2020-12, with formats); no body where none is documented.
 *
 * A mismatch throws an Error naming the method, the path, the status and ajv's errors.
 */

type Json = Record<string, unknown>;

interface Operation {
  readonly method: string;
  readonly template: string;
  readonly pattern: RegExp;
  readonly params: number;
  readonly responses: Record<string, Json>;
}

interface Compiled {
  readonly document: Json;
  readonly ajv: Ajv2020;
  readonly operations: Operation[];
  readonly validators: Map<object, ValidateFunction>;
}

const ROOT_ID = 'https://commerce-pipeline.invalid/openapi.json';
const COMPONENT_REF = '#/components/schemas/';

let compiled: Compiled | undefined;

/** The router's own 404 and 405 answers are problems. */
const PROBLEM_REF: Json = { $ref: `${COMPONENT_REF}Problem` };

/** The document and its schemas, compiled once per test process. */
export function compiledOpenApi(): Compiled {
  if (compiled) return compiled;
  const document = buildOpenApiDocument();
  const ajv = new Ajv2020({ allErrors: true, strict: false });
  addFormats(ajv);
  const components = (document.components as { schemas: Record<string, Json> }).schemas;
  ajv.addSchema({ $id: ROOT_ID, $defs: withAbsoluteRefs(components) });
  const operations: Operation[] = [];
  for (const [template, item] of Object.entries(document.paths as Record<string, Record<string, Json>>)) {
    for (const [method, operation] of Object.entries(item)) {
      operations.push({
        method: method.toUpperCase(),
        template,
        pattern: pathPattern(template).pattern,
        params: (template.match(/\{/g) ?? []).length,
        responses: operation.responses as Record<string, Json>,
      });
    }
  }
  compiled = { document, ajv, operations, validators: new Map() };
  return compiled;
}

/** The JSON Schema of a document, with its component refs pointing into the one schema that holds them all. */
function withAbsoluteRefs<T>(value: T): T {
  if (Array.isArray(value)) return value.map(withAbsoluteRefs) as T;
  if (value === null || typeof value !== 'object') return value;
  return Object.fromEntries(
    Object.entries(value).map(([key, child]) => [
      key,
      key === '$ref' && typeof child === 'string' && child.startsWith(COMPONENT_REF)
        ? `${ROOT_ID}#/$defs/${child.slice(COMPONENT_REF.length)}`
        : key === 'examples' || key === 'const' || key === 'enum'
          ? child
          : withAbsoluteRefs(child),
    ]),
  ) as T;
}

/** The validator of one schema object of the document (compiled on first use). */
export function schemaValidator(schema: Json): ValidateFunction {
  const { ajv, validators } = compiledOpenApi();
  let validate = validators.get(schema);
  if (!validate) {
    validate = ajv.compile(withAbsoluteRefs(schema));
    validators.set(schema, validate);
  }
  return validate;
}

function headerOf(
  headers: Headers | Readonly<Record<string, string | undefined>>,
  name: string,
): string | undefined {
  if (typeof (headers as Headers).get === 'function') return (headers as Headers).get(name) ?? undefined;
  const record = headers as Readonly<Record<string, string | undefined>>;
  const key = Object.keys(record).find((candidate) => candidate.toLowerCase() === name);
  return key === undefined ? undefined : record[key];
}

class OpenApiMismatch extends Error {
  constructor(method: string, path: string, status: number, reason: string, bodyText: string) {
    const body = bodyText.length > 800 ? `${bodyText.slice(0, 800)}…` : bodyText;
    super(`OpenAPI mismatch: ${method} ${path} → ${status}: ${reason}\nbody: ${body}`);
    this.name = 'OpenApiMismatch';
  }
}

/**
 * Throws unless the answer is what the document says `method path` answers with `status`. `path` may be a full
 * URL or a path with a query string; only its path is matched.
 */
export function checkResponse(
  method: string,
  path: string,
  status: number,
  headers: Headers | Readonly<Record<string, string | undefined>>,
  bodyText: string,
): void {
  const { operations } = compiledOpenApi();
  const upper = method.toUpperCase();
  const pathname = new URL(path, 'http://api.invalid').pathname;
  const fail = (reason: string): never => {
    throw new OpenApiMismatch(upper, pathname, status, reason, bodyText);
  };
  const onPath = operations.filter((operation) => operation.pattern.test(pathname));
  const operation = onPath
    .filter((candidate) => candidate.method === upper)
    .sort((a, b) => a.params - b.params)[0];
  const contentType = (headerOf(headers, 'content-type') ?? '').split(';')[0]?.trim().toLowerCase() ?? '';

  if (!operation) {
    // The router's own answers: 404 for a path no route has, 405 (with Allow) for a method the path does not take.
    const expected = onPath.length === 0 ? 404 : 405;
    if (status !== expected) {
      fail(
        onPath.length === 0
          ? 'no operation has this path (only the router’s 404 problem may answer it)'
          : `no ${upper} operation on this path (only a 405 may answer it)`,
      );
    }
    if (contentType === 'text/html' && onPath.some((candidate) => candidate.template.startsWith('/manage/')))
      return;
    if (contentType !== 'application/problem+json')
      fail(`expected application/problem+json, got "${contentType}"`);
    validateJson(PROBLEM_REF, bodyText, fail);
    return;
  }

  const where = `${operation.method} ${operation.template}`;
  const response =
    operation.responses[String(status)] ??
    operation.responses[`${String(status)[0]}XX`] ??
    operation.responses.default;
  if (!response) {
    fail(
      `status ${status} is not documented for ${where} (documented: ${Object.keys(operation.responses).join(', ')})`,
    );
    return;
  }
  const content = response.content as Record<string, { schema: Json }> | undefined;
  if (!content) {
    if (bodyText !== '') fail(`${where} documents no body for ${status}, but one came`);
    return;
  }
  const media = content[contentType];
  if (!media) {
    fail(
      `content-type "${contentType}" is not documented for ${where} ${status} (documented: ${Object.keys(content).join(', ')})`,
    );
    return;
  }
  if (/^application\/([\w.-]+\+)?json$/.test(contentType)) {
    validateJson(media.schema, bodyText, fail, where);
    return;
  }
  const validate = schemaValidator(media.schema);
  if (!validate(bodyText)) fail(`${where}: ${compiledOpenApi().ajv.errorsText(validate.errors)}`);
}

function validateJson(
  schema: Json,
  bodyText: string,
  fail: (reason: string) => never,
  where = 'the router',
): void {
  let body: unknown;
  try {
    body = JSON.parse(bodyText);
  } catch {
    fail(`${where}: the body is not JSON`);
  }
  const validate = schemaValidator(schema);
  if (!validate(body)) {
    const errors = relevantErrors(validate.errors ?? [], body)
      .map(
        (error) =>
          `  ${error.instancePath || '(body)'} ${error.message ?? ''} ${JSON.stringify(error.params)}`,
      )
      .join('\n');
    fail(`${where}: the body does not match its schema:\n${errors}`);
  }
}

/**
 * `fetch` for a test that calls the API itself: the answer is checked with `checkResponse`, and handed back as a
 * Response whose body can still be read.
 */
export async function fetchApi(url: string | URL, init?: RequestInit): Promise<Response> {
  const response = await fetch(url, init);
  const text = await response.text();
  checkResponse(init?.method ?? 'GET', String(url), response.status, response.headers, text);
  return new Response(text === '' ? null : text, {
    status: response.status,
    statusText: response.statusText,
    headers: response.headers,
  });
}

/**
 * An event is one of a `oneOf` by its `type`, and ajv reports why it is none of the branches, each of them. The
 * errors worth reading are those of the branch of its own type: the instance is validated again against that one.
 */
function relevantErrors(errors: readonly ErrorObject[], body: unknown): readonly ErrorObject[] {
  const oneOf = errors.find((error) => error.keyword === 'oneOf');
  if (!oneOf) return errors;
  const instance = oneOf.instancePath
    .split('/')
    .slice(1)
    .reduce<unknown>(
      (value, key) =>
        (value as Record<string, unknown> | undefined)?.[key.replace(/~1/g, '/').replace(/~0/g, '~')],
      body,
    );
  const type = (instance as { type?: unknown } | undefined)?.type;
  const branch = typeof type === 'string' ? branchesByType().get(type) : undefined;
  if (!branch) return errors;
  const validate = schemaValidator(branch);
  if (validate(instance)) return errors;
  return (validate.errors ?? []).map((error) => ({
    ...error,
    instancePath: oneOf.instancePath + error.instancePath,
  }));
}

let branches: Map<string, Json> | undefined;

/** The branches of the document's `oneOf`s that are told apart by `type` (the events), by that type. */
function branchesByType(): Map<string, Json> {
  if (branches) return branches;
  branches = new Map();
  const schemas = (compiledOpenApi().document.components as { schemas: Record<string, Json> }).schemas;
  for (const schema of Object.values(schemas)) {
    for (const option of (schema.oneOf as Json[] | undefined) ?? []) {
      const ref = option.$ref;
      const target = typeof ref === 'string' ? schemas[ref.slice(COMPONENT_REF.length)] : option;
      const type = (target?.properties as { type?: { const?: unknown } } | undefined)?.type?.const;
      if (typeof type === 'string') branches.set(type, option);
    }
  }
  return branches;
}
