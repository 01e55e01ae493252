import { createHash } from 'node:crypto';
import { Metrics, MetricUnit } from '@aws-lambda-powertools/metrics';
import fc from 'fast-check';
import { canonicalJson, requestFingerprint } from '../../lambdas/api/domain/idempotency';
import { readJsonBody } from '../../lambdas/api/http/request-body';
import { hashApiKey } from '../../lambdas/stores/domain/api-keys';

/**
 * The request path's cuts (bench/api-overhead.ts) keep every output as it was: the fingerprint stored with every
 * accepted transaction, the key digest stores are found by, the EMF line of a count.
 */

/** canonicalJson and requestFingerprint as they were before they were rewritten as loops. */
function canonicalJsonBefore(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJsonBefore).join(',')}]`;
  if (value !== null && typeof value === 'object') {
    const entries = Object.entries(value as Record<string, unknown>)
      .filter(([, v]) => v !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJsonBefore(v)}`).join(',')}}`;
  }
  return JSON.stringify(value) ?? 'null';
}

function fingerprintBefore(method: string, path: string, body: unknown): string {
  return createHash('sha256')
    .update(`${method} ${path}\n${canonicalJsonBefore(body)}`)
    .digest('hex');
}

describe('the fingerprint', () => {
  it('is the same text as before for any JSON value, with undefined properties too', () => {
    const withUndefined = fc.letrec((tie) => ({
      value: fc.oneof(
        { depthSize: 'small' },
        fc.jsonValue(),
        fc.constant(undefined),
        fc.array(tie('value')),
        fc.dictionary(fc.string(), tie('value')),
      ),
    })).value;
    fc.assert(
      fc.property(withUndefined, (value) => {
        expect(canonicalJson(value)).toBe(canonicalJsonBefore(value));
        expect(requestFingerprint('POST', '/v1/transactions', value)).toBe(
          fingerprintBefore('POST', '/v1/transactions', value),
        );
      }),
      { numRuns: 500 },
    );
  });

  it('sorts keys by code unit, as before', () => {
    const body = {
      b: 1,
      a: [{ z: 'é', y: null, x: undefined }],
      B: true,
      '10': 0,
      '9': 0,
      '\u{1F600}': 1,
      ﬀ: 2,
    };
    expect(canonicalJson(body)).toBe(canonicalJsonBefore(body));
  });
});

describe('the store key digest', () => {
  it('is the SHA-256 hex of the key, as before', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'binary' }), (key) => {
        expect(hashApiKey(key)).toBe(createHash('sha256').update(key, 'utf8').digest('hex'));
      }),
    );
  });
});

describe('readJsonBody', () => {
  const request = (rawBody: string) => ({
    method: 'POST',
    path: '/v1/transactions',
    headers: { 'content-type': 'application/json' },
    query: {},
    rawBody,
    requestId: 'r',
  });

  it('refuses a body over 256 KiB in UTF-8 bytes, however few characters it has', () => {
    const multiByte = `"${'€'.repeat(90_000)}"`; // 90,002 characters, 270,002 bytes
    expect(() => readJsonBody(request(multiByte))).toThrow(expect.objectContaining({ status: 413 }));
    const justUnder = `"${'€'.repeat(87_380)}"`; // 262,142 bytes
    expect(readJsonBody(request(justUnder))).toHaveLength(87_380);
  });

  it('calls a body of whitespace only empty, as trim() did', () => {
    for (const blank of ['', ' ', '\n\t', '\u00a0\ufeff\u2028']) {
      expect(() => readJsonBody(request(blank))).toThrow(expect.objectContaining({ status: 400 }));
    }
    expect(readJsonBody(request(' \n{"a":1} '))).toEqual({ a: 1 });
  });
});

describe('publishCount', () => {
  const env = { ...process.env };
  beforeEach(() => {
    process.env.POWERTOOLS_METRICS_NAMESPACE = 'CommercePipeline';
    process.env.POWERTOOLS_SERVICE_NAME = 'api-function';
    delete process.env.POWERTOOLS_METRICS_DISABLED;
    delete process.env.POWERTOOLS_DEV;
    jest.resetModules();
  });
  afterAll(() => {
    process.env = env;
  });

  function captured(run: () => void): string[] {
    const lines: string[] = [];
    const write = jest.spyOn(process.stdout, 'write').mockImplementation((chunk: string | Uint8Array) => {
      lines.push(String(chunk));
      return true;
    });
    try {
      run();
    } finally {
      write.mockRestore();
    }
    return lines;
  }

  /** The line Powertools itself writes for one count published at once. */
  function powertoolsLine(name: string, value: number): string {
    const reference = new Metrics();
    const [line = ''] = captured(() => {
      reference.addMetric(name, MetricUnit.Count, value);
      reference.publishStoredMetrics();
    });
    return line;
  }

  const withoutTimestamp = (line: string) => line.replace(/"Timestamp":\d+/, '"Timestamp":0');

  it("writes Powertools' own line for a lone count, byte for byte but the timestamp", () => {
    const { publishCount } =
      require('../../lambdas/platform/metrics') as typeof import('../../lambdas/platform/metrics');
    for (const [name, value] of [
      ['TransactionsAccepted', 1],
      ['TransactionsAccepted', 1],
      ['StreamRecordsFailed', 3],
    ] as const) {
      const before = Date.now();
      const [line = ''] = captured(() => publishCount(name, value));
      expect(withoutTimestamp(line)).toBe(withoutTimestamp(powertoolsLine(name, value)));
      const timestamp = JSON.parse(line)._aws.Timestamp;
      expect(timestamp).toBeGreaterThanOrEqual(before);
      expect(timestamp).toBeLessThanOrEqual(Date.now());
    }
  });

  it('carries the metrics the invocation stored before it, on the same line, and clears them', () => {
    const { metrics, publishCount } =
      require('../../lambdas/platform/metrics') as typeof import('../../lambdas/platform/metrics');
    const lines = captured(() => {
      metrics.addMetric('Stored', MetricUnit.Count, 2);
      publishCount('TransactionsAccepted');
      publishCount('TransactionsAccepted');
    });
    expect(lines).toHaveLength(2);
    const [first = '', second = ''] = lines;
    expect(JSON.parse(first)).toMatchObject({ Stored: 2, TransactionsAccepted: 1, service: 'api-function' });
    expect(JSON.parse(second).Stored).toBeUndefined();
  });

  it('writes nothing when metrics are disabled', () => {
    process.env.POWERTOOLS_METRICS_DISABLED = 'true';
    const { publishCount } =
      require('../../lambdas/platform/metrics') as typeof import('../../lambdas/platform/metrics');
    expect(captured(() => publishCount('TransactionsAccepted'))).toEqual([]);
  });
});
