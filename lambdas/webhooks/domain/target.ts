import ipaddr from 'ipaddr.js';

/**
 * Server-side request forgery guard for webhook endpoints. A merchant-supplied URL must not make the pipeline
 * call into its own network: loopback, private, link-local (including the 169.254.169.254 metadata service),
 * CGNAT, unspecified, multicast, reserved and translation ranges are refused, in any spelling. The URL parser
 * already folds decimal, hex and octal IPv4 forms (`http://2130706433/`, `http://0x7f.1/`) into dotted quads, and
 * ipaddr.js unwraps IPv4-mapped IPv6 (`[::ffff:127.0.0.1]`) before classifying. Host names are resolved and every
 * address must be public; delivery checks again and connects to a checked address (DNS can change).
 */

export type TargetCheck =
  | { readonly ok: true; readonly url: URL; readonly addresses: readonly string[] }
  | { readonly ok: false; readonly reason: string };

/** Port: resolves a host name to all its addresses (A and AAAA). */
export interface HostResolver {
  resolve(hostname: string): Promise<readonly string[]>;
}

export interface TargetPolicy {
  /** Allow loopback and private targets (the local stack's receivers). */
  readonly allowPrivate: boolean;
  /** Refuse plain http (in AWS). */
  readonly requireHttps: boolean;
  readonly resolver: HostResolver;
}

const MAX_URL_LENGTH = 2048;

/** True only for globally routable unicast addresses. */
export function isPublicAddress(address: string): boolean {
  if (!ipaddr.isValid(address)) return false;
  return ipaddr.process(address).range() === 'unicast';
}

export async function checkWebhookTarget(rawUrl: string, policy: TargetPolicy): Promise<TargetCheck> {
  if (rawUrl.length > MAX_URL_LENGTH) return refuse(`is longer than ${MAX_URL_LENGTH} characters`);
  let url: URL;
  try {
    url = new URL(rawUrl);
  } catch {
    return refuse('is not an absolute URL');
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') return refuse('must use http or https');
  if (policy.requireHttps && url.protocol !== 'https:') return refuse('must use https');
  if (url.username || url.password)
    return refuse('must not carry credentials; use the signing secret instead');
  if (policy.allowPrivate) return { ok: true, url, addresses: [] };

  const host = url.hostname
    .replace(/^\[|\]$/g, '')
    .replace(/\.$/, '')
    .toLowerCase();
  if (host === '' || host === 'localhost' || host.endsWith('.localhost'))
    return refuse('points at this machine');
  if (ipaddr.isValid(host)) {
    return isPublicAddress(host)
      ? { ok: true, url, addresses: [host] }
      : refuse(`points at a non-public address (${host})`);
  }
  let addresses: readonly string[];
  try {
    addresses = await policy.resolver.resolve(host);
  } catch {
    return refuse(`host ${host} does not resolve`);
  }
  if (addresses.length === 0) return refuse(`host ${host} does not resolve`);
  const blocked = addresses.find((address) => !isPublicAddress(address));
  if (blocked) return refuse(`host ${host} resolves to a non-public address (${blocked})`);
  return { ok: true, url, addresses };
}

function refuse(reason: string): TargetCheck {
  return { ok: false, reason: `The URL ${reason}.` };
}
