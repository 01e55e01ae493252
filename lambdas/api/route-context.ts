import type { RequestSecrets } from './services';

/** What every route receives beside the request: this invocation's secrets. */
export interface RouteContext {
  readonly secrets: RequestSecrets;
}
