import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import * as z from 'zod';
import { ApiError, callApi, toleratePollFailure } from './api-client';
import type { Answer } from './subscription-runs';
import type { Target } from './target';

/**
 * `pipeline reconcile <date>`: the reconciliation routes of the admin API (docs/api.md section 3). Starts the
 * reconciliation of a completed run with the gateway, waits for its report and prints it.
 */

const count = z.number().int().nonnegative();
const chargeFields = {
  storeId: z.string().optional(),
  subscriptionId: z.string(),
  period: z.string(),
  attempt: count,
};
const reportSchema = z.object({
  date: z.string(),
  /** `running` or `completed`; kept a string so that a status added later is shown rather than refused. */
  status: z.string(),
  gatewayPaymentIntents: count,
  recordedCharges: count,
  matched: count,
  duplicates: z.array(
    z.object({
      ...chargeFields,
      paymentIntentIds: z.array(z.string()),
      recordedPaymentIntentId: z.string().optional(),
    }),
  ),
  orphans: z.array(
    z.object({
      paymentIntentId: z.string(),
      storeId: z.string().optional(),
      subscriptionId: z.string().optional(),
      period: z.string().optional(),
      attempt: count.optional(),
      amount: z.number().optional(),
      currency: z.string().optional(),
      reason: z.string().optional(),
      recordedPaymentIntentId: z.string().optional(),
    }),
  ),
  missing: z.array(
    z.object({
      ...chargeFields,
      paymentIntentId: z.string(),
      recordedStatus: z.string().optional(),
      gatewayStatus: z.string().optional(),
    }),
  ),
  counts: z.object({ duplicates: count, orphans: count, missing: count }).optional(),
  truncated: z.boolean().optional(),
  completedAt: z.string().optional(),
});

export type Reconciliation = z.infer<typeof reportSchema>;

const startedSchema = z.object({ date: z.string(), status: z.string() });

/** An answer that says why the run cannot be reconciled: no run for the date (404), or still running (409). */
export class ReconciliationRefusedError extends Error {
  constructor(date: string, cause: ApiError) {
    const said = cause.message.split('\n')[0];
    super(
      cause.status === 404
        ? `Run ${date} does not exist: there is nothing to reconcile (${said}).`
        : `Run ${date} is still running: a run is reconciled once it completes (${said}). ` +
            `Follow it with \`pipeline runs ${date} --watch\`.`,
    );
    this.name = 'ReconciliationRefusedError';
  }
}

/** `POST /v1/admin/reconciliations`. */
export async function startReconciliation(
  target: Target,
  date: string,
  options: { idempotencyKey?: string } = {},
): Promise<Answer<z.infer<typeof startedSchema>>> {
  let raw: unknown;
  try {
    raw = await callApi(target, 'POST', '/v1/admin/reconciliations', {
      body: { date },
      idempotencyKey: options.idempotencyKey ?? randomUUID(),
    });
  } catch (error) {
    if (error instanceof ApiError && (error.status === 404 || error.status === 409)) {
      throw new ReconciliationRefusedError(date, error);
    }
    throw error;
  }
  return { value: decode(startedSchema, raw, 'POST /v1/admin/reconciliations'), raw };
}

/** `GET /v1/admin/reconciliations/{date}`. */
export async function getReconciliation(target: Target, date: string): Promise<Answer<Reconciliation>> {
  const path = `/v1/admin/reconciliations/${encodeURIComponent(date)}`;
  const raw = await callApi(target, 'GET', path);
  return { value: decode(reportSchema, raw, `GET ${path}`), raw };
}

/** Polls until the report is `completed`; answers it. Ends with an AbortError on `signal`. */
export async function waitForReconciliation(
  read: () => Promise<Answer<Reconciliation>>,
  options: {
    readonly intervalMs: number;
    readonly timeoutMs: number;
    readonly warn: (message: string) => void;
    readonly signal?: AbortSignal;
    readonly now?: () => number;
  },
): Promise<Answer<Reconciliation>> {
  const now = options.now ?? Date.now;
  const giveUpAt = now() + options.timeoutMs;
  let failures = 0;
  for (;;) {
    try {
      const answer = await read();
      failures = 0;
      if (answer.value.status === 'completed') return answer;
    } catch (error) {
      options.signal?.throwIfAborted();
      failures += 1;
      toleratePollFailure(error, failures, options);
    }
    if (now() + options.intervalMs > giveUpAt) {
      throw new Error(
        `The reconciliation did not complete within ${options.timeoutMs / 1000} s; it goes on ` +
          '(its report: GET /v1/admin/reconciliations/<date>). Is RunFunction working the runs queue? See `pipeline status`.',
      );
    }
    await sleep(options.intervalMs, undefined, { signal: options.signal });
  }
}

/** Whether money moved twice or without a record: what the alarm fires on, and exit code 1. */
export function hasMismatch(report: Reconciliation): boolean {
  return report.duplicates.length > 0 || report.orphans.length > 0;
}

/** The report for a person: counts, then each duplicate, orphan and missing payment. */
export function formatReconciliation(report: Reconciliation): string {
  const counts = report.counts ?? {
    duplicates: report.duplicates.length,
    orphans: report.orphans.length,
    missing: report.missing.length,
  };
  const when = report.completedAt ? ` at ${report.completedAt}` : '';
  const lines = [
    `Reconciliation of run ${report.date}: ${report.status}${when}`,
    `  gateway PaymentIntents  ${report.gatewayPaymentIntents}`,
    `  recorded charges        ${report.recordedCharges}`,
    `  matched                 ${report.matched}`,
    `  duplicates              ${counts.duplicates}`,
    `  orphans                 ${counts.orphans}`,
    `  missing                 ${counts.missing}`,
  ];
  const shown = (listed: number, total: number) =>
    listed < total ? ` (the first ${listed} of ${total})` : '';
  if (report.duplicates.length > 0) {
    lines.push(
      '',
      `Duplicates: money moved more than once for one charge${shown(report.duplicates.length, counts.duplicates)}`,
    );
    for (const entry of report.duplicates) {
      const recorded = entry.recordedPaymentIntentId ? ` (recorded: ${entry.recordedPaymentIntentId})` : '';
      lines.push(`  ${chargeName(entry)}: ${entry.paymentIntentIds.join(', ')}${recorded}`);
    }
  }
  if (report.orphans.length > 0) {
    lines.push('', `Orphans: money moved, nothing recorded${shown(report.orphans.length, counts.orphans)}`);
    for (const orphan of report.orphans) {
      const charge = orphan.subscriptionId ? chargeName(orphan) : 'no charge named in its metadata';
      const amount =
        orphan.amount !== undefined ? `  ${orphan.amount} ${orphan.currency ?? ''}`.trimEnd() : '';
      const why = orphan.reason ? `  (${orphan.reason})` : '';
      lines.push(`  ${orphan.paymentIntentId}  ${charge}${amount}${why}`);
    }
  }
  if (report.missing.length > 0) {
    lines.push(
      '',
      `Missing: recorded as paid, not at the gateway${shown(report.missing.length, counts.missing)}`,
    );
    for (const entry of report.missing) {
      const gateway = entry.gatewayStatus ? `gateway: ${entry.gatewayStatus}` : 'gateway: not found';
      const recorded = entry.recordedStatus ? `recorded ${entry.recordedStatus}; ` : '';
      lines.push(`  ${chargeName(entry)}: ${entry.paymentIntentId} (${recorded}${gateway})`);
    }
  }
  if (report.status === 'completed') {
    lines.push(
      '',
      hasMismatch(report)
        ? `Not clean: ${counts.duplicates} duplicate(s), ${counts.orphans} orphan(s). Refund the extra PaymentIntents.`
        : counts.missing > 0
          ? 'No duplicates or orphans; some recorded payments are missing at the gateway (listed above).'
          : 'Clean: every PaymentIntent that moved money is the recorded payment of its charge.',
    );
  }
  return `${lines.join('\n')}\n`;
}

function chargeName(charge: {
  storeId?: string;
  subscriptionId?: string;
  period?: string;
  attempt?: number;
}): string {
  const store = charge.storeId ? `${charge.storeId}/` : '';
  const attempt = charge.attempt !== undefined ? ` attempt ${charge.attempt}` : '';
  return `${store}${charge.subscriptionId ?? '?'} period ${charge.period ?? '?'}${attempt}`;
}

function decode<T>(schema: z.ZodType<T>, raw: unknown, request: string): T {
  const parsed = schema.safeParse(raw);
  if (parsed.success) return parsed.data;
  const issues = parsed.error.issues.map((issue) => `${issue.path.join('.') || 'body'}: ${issue.message}`);
  throw new Error(`Unexpected answer to ${request}: ${issues.join('; ')}`);
}
