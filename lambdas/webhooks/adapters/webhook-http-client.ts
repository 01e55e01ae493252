import { lookup as dnsLookup, type LookupAddress, type LookupOptions } from 'node:dns';
import http, { type IncomingMessage } from 'node:http';
import https from 'node:https';
import { isIP } from 'node:net';
import { performance } from 'node:perf_hooks';
import type { WebhookSender } from '../domain/delivery';
import { type AttemptResult, describeStatus } from '../domain/delivery-policy';
import { checkWebhookTarget, type HostResolver, isPublicAddress } from '../domain/target';

/**
 * The POST of one delivery attempt, with node's http/https rather than fetch because the connection must go to an
 * address that was checked: the URL is checked again before every attempt (DNS may have changed since
 * registration), and a custom `lookup` hands the socket only the addresses that check approved, so a DNS answer
 * that changes between the check and the connect (rebinding) cannot reach a private address.
 */

/** How much of a response body is read: enough for an error message, never a receiver's whole page. */
export const MAX_RESPONSE_BODY_BYTES = 4096;
const USER_AGENT = 'commerce-pipeline-webhooks/1';

export interface WebhookHttpClientOptions {
  /** The whole attempt: resolve, connect, send and the response's status line and headers. */
  readonly timeoutMs: number;
  readonly allowPrivateTargets: boolean;
  readonly requireHttps: boolean;
  readonly resolver: HostResolver;
}

class NonPublicAddressError extends Error {
  readonly code = 'ENONPUBLIC';
}

export class WebhookHttpClient implements WebhookSender {
  // Keep-alive: a busy endpoint's deliveries reuse their connection (a pooled socket stays on its checked address).
  private readonly agents = {
    'http:': new http.Agent({ keepAlive: true }),
    'https:': new https.Agent({ keepAlive: true }),
  };

  constructor(private readonly options: WebhookHttpClientOptions) {}

  async post(url: string, body: string, headers: Readonly<Record<string, string>>): Promise<AttemptResult> {
    const started = performance.now();
    const elapsed = () => Math.round(performance.now() - started);
    const controller = new AbortController();
    const timer = setTimeout(() => controller.abort(), this.options.timeoutMs);
    try {
      const check = await Promise.race([
        checkWebhookTarget(url, {
          allowPrivate: this.options.allowPrivateTargets,
          requireHttps: this.options.requireHttps,
          resolver: this.options.resolver,
        }),
        aborted(controller.signal),
      ]);
      if (!check.ok) return { durationMs: elapsed(), error: refusalReason(check.reason) };
      const response = await this.send(check.url, check.addresses, body, headers, controller.signal);
      const status = response.status;
      const error = describeStatus(status);
      return {
        status,
        durationMs: elapsed(),
        ...(error ? { error } : {}),
        ...(response.retryAfter !== undefined ? { retryAfter: response.retryAfter } : {}),
        ...(response.body ? { responseBody: response.body } : {}),
      };
    } catch (error) {
      return { durationMs: elapsed(), error: controller.signal.aborted ? 'timeout' : networkReason(error) };
    } finally {
      clearTimeout(timer);
    }
  }

  /** Closes pooled connections (tests and shutdown). */
  close(): void {
    this.agents['http:'].destroy();
    this.agents['https:'].destroy();
  }

  private send(
    url: URL,
    checkedAddresses: readonly string[],
    body: string,
    headers: Readonly<Record<string, string>>,
    signal: AbortSignal,
  ): Promise<{ status: number; retryAfter?: string; body: string }> {
    const transport = url.protocol === 'https:' ? https : http;
    return new Promise((resolve, reject) => {
      const request = transport.request(
        url,
        {
          method: 'POST',
          agent: this.agents[url.protocol === 'https:' ? 'https:' : 'http:'],
          headers: {
            ...headers,
            'content-type': 'application/json',
            'content-length': Buffer.byteLength(body),
            'user-agent': USER_AGENT,
          },
          lookup: this.lookup(checkedAddresses),
          signal,
        },
        (response) => {
          readBounded(response, signal).then(
            (text) =>
              resolve({
                status: response.statusCode ?? 0,
                ...(typeof response.headers['retry-after'] === 'string'
                  ? { retryAfter: response.headers['retry-after'] }
                  : {}),
                body: text,
              }),
            reject,
          );
        },
      );
      request.on('error', reject);
      request.end(body);
    });
  }

  /**
   * The socket's name resolution. With private targets refused, the check resolved and approved `checked`: the
   * connection uses exactly those. With private targets allowed (local stack) any address will do.
   */
  private lookup(checked: readonly string[]) {
    const allowPrivate = this.options.allowPrivateTargets;
    return (
      hostname: string,
      options: LookupOptions,
      callback: (
        error: NodeJS.ErrnoException | null,
        address: string | LookupAddress[],
        family?: number,
      ) => void,
    ): void => {
      const answer = (addresses: readonly LookupAddress[]) => {
        const wanted = addresses.filter((a) => !options.family || a.family === options.family);
        const refused = wanted.find((a) => !allowPrivate && !isPublicAddress(a.address));
        if (refused) return callback(new NonPublicAddressError(`${hostname} → ${refused.address}`), '');
        const first = wanted[0];
        if (!first)
          return callback(Object.assign(new Error(`${hostname} has no address`), { code: 'ENOTFOUND' }), '');
        if (options.all) return callback(null, wanted);
        callback(null, first.address, first.family);
      };
      if (checked.length > 0) {
        answer(checked.map((address) => ({ address, family: isIP(address) })));
      } else {
        dnsLookup(hostname, { all: true }, (error, addresses) =>
          error ? callback(error, '') : answer(addresses),
        );
      }
    };
  }
}

/** Reads at most MAX_RESPONSE_BODY_BYTES of the body, then lets the rest go. */
function readBounded(response: IncomingMessage, signal: AbortSignal): Promise<string> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const finish = () => {
      signal.removeEventListener('abort', finish);
      resolve(Buffer.concat(chunks).subarray(0, MAX_RESPONSE_BODY_BYTES).toString('utf8'));
    };
    // The status already arrived in time: a body that trickles past the timeout does not undo it.
    signal.addEventListener('abort', finish, { once: true });
    response.on('data', (chunk: Buffer) => {
      chunks.push(chunk);
      size += chunk.length;
      if (size >= MAX_RESPONSE_BODY_BYTES) {
        response.destroy();
        finish();
      }
    });
    response.on('end', finish);
    response.on('error', finish);
    response.on('close', finish);
  });
}

function aborted(signal: AbortSignal): Promise<never> {
  return new Promise((_, reject) => {
    signal.addEventListener('abort', () => reject(new Error('timeout')), { once: true });
  });
}

function refusalReason(reason: string): string {
  if (/non-public|this machine/.test(reason)) return 'non-public address';
  if (/does not resolve/.test(reason)) return 'DNS lookup failed';
  if (/https/.test(reason)) return 'https required';
  return 'invalid URL';
}

function networkReason(error: unknown): string {
  const code = (error as { code?: string } | undefined)?.code ?? '';
  if (error instanceof NonPublicAddressError) return 'non-public address';
  if (code === 'ECONNREFUSED') return 'connection refused';
  if (code === 'ENOTFOUND' || code === 'EAI_AGAIN') return 'DNS lookup failed';
  if (code === 'ECONNRESET' || code === 'EPIPE') return 'connection reset';
  if (code === 'ETIMEDOUT' || code === 'ENETUNREACH' || code === 'EHOSTUNREACH') return 'host unreachable';
  if (code.startsWith('ERR_TLS') || code.includes('CERT') || code.startsWith('ERR_SSL')) return 'TLS error';
  return code ? `network error (${code})` : 'network error';
}
