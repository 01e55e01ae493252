/** What a route sees of a request, independent of API Gateway's event shape. */
export interface ApiRequest {
  readonly method: string;
  readonly path: string;
  /** Header names lower-cased. */
  readonly headers: Readonly<Record<string, string>>;
  readonly query: Readonly<Record<string, string>>;
  /** The body as text (decoded from base64 when API Gateway encoded it); empty string when absent. */
  readonly rawBody: string;
  readonly requestId: string;
}

/** What a route answers; the body is serialized as JSON unless it is a string. */
export interface ApiResponse {
  readonly status: number;
  readonly body?: unknown;
  readonly headers?: Readonly<Record<string, string>>;
}
