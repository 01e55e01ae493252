// Types for the parts of the Zapier packages the tests use that ship none: `zapier-platform-schema` (the schema
// `zapier validate` and `zapier push` check an app against) and the schema tools of `zapier-platform-core` that
// turn an app into the definition Zapier validates (functions replaced by `$func$…` placeholders).
declare module 'zapier-platform-schema' {
  interface SchemaValidationError {
    readonly property: string;
    readonly message: string;
    readonly stack: string;
  }
  export function validateAppDefinition(definition: unknown): { readonly errors: SchemaValidationError[] };
}

declare module 'zapier-platform-core/src/tools/schema' {
  /** The app compiled as the runtime runs it (resources expanded, a frozen deep copy). */
  export function prepareApp(app: object): object;
  /** The compiled app as JSON: what `zapier push` writes to definition.json. */
  export function serializeApp(compiledApp: object): Record<string, unknown>;
}
