/**
 * Where the API is, seen from the console's own URL. The console is served at `<base>console` (or
 * `<base>console/`), where `<base>` is `/` locally and `/<stage>/` behind API Gateway's stage path: every API call
 * is made relative to that directory, never to an absolute `/v1`, so the console works under any base path.
 */
export function apiBaseFrom(pathname: string): string {
  const match = /^(.*\/)console\/?$/.exec(pathname);
  if (match?.[1]) return match[1];
  // Anywhere else (not expected): the directory of the page.
  return pathname.slice(0, pathname.lastIndexOf('/') + 1) || '/';
}

/** The URL path of an API route (`v1/webhooks`, no leading slash) under the base, with its query. */
export function apiPath(
  base: string,
  route: string,
  query: Readonly<Record<string, string | number | undefined>> = {},
): string {
  const params = new URLSearchParams();
  for (const [name, value] of Object.entries(query)) {
    if (value !== undefined && value !== '') params.set(name, String(value));
  }
  const search = params.toString();
  return `${base}${route.replace(/^\/+/, '')}${search ? `?${search}` : ''}`;
}

/** A path segment of an id taken from an answer: encoded, so that no id can change the route it is put in. */
export function segment(value: string): string {
  return encodeURIComponent(value);
}
