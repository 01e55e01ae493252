import fc from 'fast-check';
import {
  type ChargeRecord,
  type ChargeRef,
  chargeRefToString,
} from '../../lambdas/billing/domain/charges/charge';
import type { GatewayPaymentIntent, PaymentIntentLedger } from '../../lambdas/billing/domain/charges/gateway';
import {
  type ReconcileMessage,
  reconcileMessage as reconcileMessageSchema,
} from '../../lambdas/billing/domain/messages';
import {
  processReconcileMessage,
  type ReconcileDeps,
  type ReconciliationReports,
  reconcile,
  requestReconciliation,
  scheduleReconciliation,
} from '../../lambdas/billing/domain/reconciliation';
import {
  buildReconciliation,
  forStorage,
  MAX_LISTED_FINDINGS,
  RECONCILIATION_WINDOW_MARGIN_MS,
  type ReconciledCharge,
  type ReconciledPaymentIntent,
  type ReconciliationReport,
} from '../../lambdas/billing/domain/reconciliation-report';
import type { Run } from '../../lambdas/billing/domain/runs/run';
import { ConfigError, loadConfig } from '../../lambdas/platform/config';

const DATE = '2024-06-01';
const AT = '2024-06-01T02:00:00.000Z';

function ref(subscriptionId: string, overrides: Partial<ChargeRef> = {}): ChargeRef {
  return { storeId: 'acme', subscriptionId, period: DATE, attempt: 0, ...overrides };
}

function metadataOf(charge: ChargeRef): Record<string, string> {
  return {
    store_id: charge.storeId,
    subscription_id: charge.subscriptionId,
    period: charge.period,
    attempt: String(charge.attempt),
  };
}

function record(
  of: ChargeRef,
  overrides: Partial<ReconciledCharge & { claimedAt: string }> = {},
): ReconciledCharge & { claimedAt: string } {
  return {
    ...of,
    runId: DATE,
    status: 'succeeded',
    paymentIntentId: `pi_${of.subscriptionId}`,
    claimedAt: '2024-06-01T00:05:00.000Z',
    ...overrides,
  };
}

function intent(
  id: string,
  metadata: Record<string, string>,
  overrides: Partial<GatewayPaymentIntent> = {},
): GatewayPaymentIntent {
  return {
    id,
    status: 'succeeded',
    amount: 1999,
    currency: 'usd',
    created: Date.parse('2024-06-01T00:06:00Z') / 1000,
    metadata,
    ...overrides,
  };
}

function build(input: {
  runCharges?: readonly ReconciledCharge[];
  intents?: readonly ReconciledPaymentIntent[];
  records?: readonly ReconciledCharge[];
}): ReconciliationReport {
  return buildReconciliation({
    date: DATE,
    requestedAt: AT,
    completedAt: AT,
    runCharges: input.runCharges ?? [],
    intents: input.intents ?? [],
    records: input.records ?? [],
  });
}

describe('buildReconciliation', () => {
  it('matches each paid charge of the run with its PaymentIntent: a clean run has nothing to report', () => {
    const charges = [record(ref('a')), record(ref('b'), { status: 'processing' }), record(ref('c'))];
    const report = build({
      runCharges: [...charges, record(ref('d'), { status: 'failed', paymentIntentId: 'pi_d' })],
      intents: [
        intent('pi_a', metadataOf(ref('a'))),
        intent('pi_b', metadataOf(ref('b')), { status: 'processing' }),
        intent('pi_c', metadataOf(ref('c'))),
        // The declined one moved no money.
        intent('pi_d', metadataOf(ref('d')), { status: 'requires_payment_method' }),
      ],
    });

    expect(report).toEqual({
      date: DATE,
      status: 'completed',
      requestedAt: AT,
      gatewayPaymentIntents: 3,
      recordedCharges: 3,
      matched: 3,
      duplicates: [],
      orphans: [],
      missing: [],
      otherRuns: 0,
      inFlight: 0,
      counts: { duplicates: 0, orphans: 0, missing: 0 },
      completedAt: AT,
    });
  });

  it('reports two PaymentIntents that moved money for one charge as one duplicate, naming the recorded one', () => {
    const report = build({
      runCharges: [record(ref('a'))],
      intents: [
        intent('pi_a', metadataOf(ref('a'))),
        intent('pi_again', metadataOf(ref('a')), { status: 'processing' }),
      ],
    });

    expect(report.duplicates).toEqual([
      { ...ref('a'), paymentIntentIds: ['pi_a', 'pi_again'], recordedPaymentIntentId: 'pi_a' },
    ]);
    expect(report).toMatchObject({ matched: 0, gatewayPaymentIntents: 2, orphans: [], missing: [] });
  });

  it('reports money moved without a record as an orphan, whichever way the record is wrong', () => {
    const report = build({
      runCharges: [
        record(ref('named-other'), { paymentIntentId: 'pi_recorded' }),
        record(ref('failed'), { status: 'failed', paymentIntentId: undefined }),
      ],
      intents: [
        intent('pi_recorded', metadataOf(ref('named-other'))),
        intent('pi_no_record', metadataOf(ref('ghost'))),
        intent('pi_other', metadataOf(ref('named-other', { attempt: 1 }))),
        intent('pi_failed', metadataOf(ref('failed'))),
        intent('pi_partial', { subscription_id: 'sub_x', period: DATE }),
        intent('pi_bad_attempt', { ...metadataOf(ref('z')), attempt: 'first' }),
      ],
      records: [record(ref('named-other', { attempt: 1 }), { runId: '2024-05-31', paymentIntentId: 'pi_1' })],
    });

    const reasons = Object.fromEntries(
      report.orphans.map((orphan) => [orphan.paymentIntentId, orphan.reason]),
    );
    expect(reasons).toEqual({
      pi_no_record: 'no-record',
      pi_other: 'other-payment-intent',
      pi_failed: 'not-recorded-as-paid',
      pi_partial: 'incomplete-metadata',
      pi_bad_attempt: 'incomplete-metadata',
    });
    expect(report.orphans.find((orphan) => orphan.paymentIntentId === 'pi_partial')).toEqual({
      paymentIntentId: 'pi_partial',
      subscriptionId: 'sub_x',
      period: DATE,
      amount: 1999,
      currency: 'USD',
      status: 'succeeded',
      reason: 'incomplete-metadata',
    });
    expect(report.orphans.find((orphan) => orphan.paymentIntentId === 'pi_other')).toMatchObject({
      recordedStatus: 'succeeded',
      recordedPaymentIntentId: 'pi_1',
    });
    expect(report).toMatchObject({ matched: 1, gatewayPaymentIntents: 6, duplicates: [] });
  });

  it('ignores PaymentIntents of other integrations and those that moved no money', () => {
    const report = build({
      intents: [
        intent('pi_shop', { order_id: '42' }),
        intent('pi_plain', {}),
        intent('pi_declined', metadataOf(ref('a')), { status: 'requires_payment_method' }),
        intent('pi_canceled', metadataOf(ref('b')), { status: 'canceled' }),
      ],
    });

    expect(report).toMatchObject({ gatewayPaymentIntents: 0, matched: 0, orphans: [], duplicates: [] });
  });

  it("matches another run's charges without counting them, and leaves one still awaiting its answer alone", () => {
    const yesterday = ref('y', { period: '2024-05-31' });
    const tomorrow = ref('t', { period: '2024-06-02' });
    const report = build({
      runCharges: [record(ref('a'))],
      intents: [
        intent('pi_a', metadataOf(ref('a'))),
        intent('pi_y', metadataOf(yesterday)),
        intent('pi_t', metadataOf(tomorrow)),
      ],
      records: [
        record(yesterday, { runId: '2024-05-31', paymentIntentId: 'pi_y' }),
        record(tomorrow, { runId: '2024-06-02', status: 'pending', paymentIntentId: undefined }),
      ],
    });

    expect(report).toMatchObject({
      gatewayPaymentIntents: 1,
      recordedCharges: 1,
      matched: 1,
      otherRuns: 1,
      inFlight: 1,
      orphans: [],
    });
  });

  it('reports a recorded payment the gateway does not have, or shows as never made, as missing', () => {
    const report = build({
      runCharges: [
        record(ref('gone')),
        record(ref('declined')),
        // Its debit failed since: the poll records that; it is not missing.
        record(ref('settling'), { status: 'processing' }),
        record(ref('adopted'), { runId: '2024-06-02', paymentIntentId: 'pi_nowhere' }),
      ],
      intents: [
        intent('pi_declined', metadataOf(ref('declined')), { status: 'requires_payment_method' }),
        intent('pi_settling', metadataOf(ref('settling')), { status: 'requires_payment_method' }),
      ],
    });

    expect(report.missing).toEqual([
      {
        ...ref('declined'),
        paymentIntentId: 'pi_declined',
        recordedStatus: 'succeeded',
        gatewayStatus: 'requires_payment_method',
      },
      { ...ref('gone'), paymentIntentId: 'pi_gone', recordedStatus: 'succeeded' },
    ]);
    // A charge another run adopted is that run's.
    expect(report.recordedCharges).toBe(3);
  });

  it('answers the same report whatever order the gateway lists in', () => {
    const intents = [
      intent('pi_a', metadataOf(ref('a'))),
      intent('pi_b', metadataOf(ref('b'))),
      intent('pi_b2', metadataOf(ref('b'))),
      intent('pi_x', metadataOf(ref('x'))),
    ];
    const runCharges = [record(ref('a')), record(ref('b')), record(ref('m'))];
    expect(build({ runCharges, intents: [...intents].reverse() })).toEqual(build({ runCharges, intents }));
  });
});

describe('buildReconciliation, for any charges and PaymentIntents', () => {
  const statuses = ['pending', 'processing', 'succeeded', 'failed'] as const;
  const intentStatuses = ['succeeded', 'processing', 'requires_payment_method', 'canceled'] as const;
  const refArb = fc.record({
    storeId: fc.constantFrom('acme', 'other'),
    subscriptionId: fc.constantFrom('a', 'b', 'c', 'd'),
    period: fc.constantFrom('2024-05-31', DATE),
    attempt: fc.integer({ min: 0, max: 2 }),
  });
  const piId = fc.integer({ min: 0, max: 15 }).map((n) => `pi_${n}`);
  const recordArb = fc.record({
    ref: refArb,
    runId: fc.constantFrom(DATE, DATE, '2024-05-31', '2024-06-02'),
    status: fc.constantFrom(...statuses),
    paymentIntentId: fc.option(piId, { nil: undefined }),
  });
  const metadataArb = fc.oneof(
    { weight: 6, arbitrary: refArb.map(metadataOf) },
    // Incomplete, or another integration's.
    {
      weight: 1,
      arbitrary: refArb.map(({ subscriptionId, period }) => ({ subscription_id: subscriptionId, period })),
    },
    { weight: 1, arbitrary: refArb.map((of) => ({ ...metadataOf(of), attempt: 'x' })) },
    { weight: 1, arbitrary: fc.constant({ order_id: '7' }) },
  );
  const intentArb = fc.record({
    id: piId,
    status: fc.constantFrom(...intentStatuses),
    metadata: metadataArb,
  });
  // Most PaymentIntents are those the records name (so that matches are common), under any status; the others
  // are strays: a second one for a charge, one for no charge, another integration's.
  const world = fc
    .uniqueArray(recordArb, { selector: (r) => chargeRefToString(r.ref), maxLength: 30 })
    .chain((records) =>
      fc.record({
        records: fc.constant(records),
        named: fc.array(fc.constantFrom(...intentStatuses, 'succeeded', 'succeeded'), {
          minLength: records.length,
          maxLength: records.length,
        }),
        strays: fc.uniqueArray(intentArb, { selector: (i) => i.id, maxLength: 12 }),
        // A PaymentIntent for a charge whose record names none yet (its answer not recorded): in flight for
        // another run's pending charge, an orphan for one of this run's. Strays with random metadata rarely hit it.
        unrecorded: fc.array(fc.boolean(), { minLength: records.length, maxLength: records.length }),
      }),
    )
    .map(({ records, named, strays, unrecorded }) => {
      const intents = new Map<string, { id: string; status: string; metadata: Record<string, string> }>();
      records.forEach((r, index) => {
        if (r.paymentIntentId && !intents.has(r.paymentIntentId)) {
          intents.set(r.paymentIntentId, {
            id: r.paymentIntentId,
            status: named[index] ?? 'succeeded',
            metadata: metadataOf(r.ref),
          });
        }
      });
      records.forEach((r, index) => {
        if (!r.paymentIntentId && unrecorded[index]) {
          intents.set(`pi_unrecorded_${index}`, {
            id: `pi_unrecorded_${index}`,
            status: named[index] ?? 'succeeded',
            metadata: metadataOf(r.ref),
          });
        }
      });
      for (const stray of strays) intents.set(`stray_${stray.id}`, { ...stray, id: `stray_${stray.id}` });
      return { records, intents: [...intents.values()] };
    });

  const asRecords = (
    generated: readonly { ref: ChargeRef; runId: string; status: string; paymentIntentId?: string }[],
  ) =>
    generated.map(
      (r): ReconciledCharge => ({
        ...r.ref,
        runId: r.runId,
        status: r.status as ReconciledCharge['status'],
        ...(r.paymentIntentId ? { paymentIntentId: r.paymentIntentId } : {}),
      }),
    );
  const asIntents = (
    generated: readonly { id: string; status: string; metadata: Record<string, string> }[],
  ) => generated.map((i) => intent(i.id, i.metadata, { status: i.status }));

  it('puts every PaymentIntent that moved money with our metadata in exactly one place, and the counts add up', () => {
    const seen = new Set<string>();
    fc.assert(
      fc.property(world, ({ records, intents }) => {
        const all = asRecords(records);
        const runCharges = all.filter((r) => r.runId === DATE);
        const listed = asIntents(intents);
        const report = build({ runCharges, intents: listed, records: all });

        const ours = listed.filter(
          (i) =>
            (i.status === 'succeeded' || i.status === 'processing') &&
            ['store_id', 'subscription_id', 'period', 'attempt'].some((key) => i.metadata[key] !== undefined),
        );
        const flagged = [
          ...report.duplicates.flatMap((entry) => entry.paymentIntentIds),
          ...report.orphans.map((orphan) => orphan.paymentIntentId),
        ];
        // Never in two places: a PaymentIntent is listed once at most, and only if it is ours.
        expect(new Set(flagged).size).toBe(flagged.length);
        const ourIds = new Set(ours.map((i) => i.id));
        for (const id of flagged) expect(ourIds.has(id)).toBe(true);
        expect(report.matched + report.otherRuns + report.inFlight + flagged.length).toBe(ours.length);
        expect(report.gatewayPaymentIntents).toBe(report.matched + flagged.length);
        expect(report.counts).toEqual({
          duplicates: report.duplicates.length,
          orphans: report.orphans.length,
          missing: report.missing.length,
        });
        for (const entry of report.duplicates) expect(entry.paymentIntentIds.length).toBeGreaterThan(1);
        for (const kind of ['matched', 'otherRuns', 'inFlight'] as const)
          if (report[kind] > 0) seen.add(kind);
        for (const kind of ['duplicates', 'orphans', 'missing'] as const)
          if (report[kind].length > 0) seen.add(kind);
        expect(report.matched).toBeLessThanOrEqual(report.recordedCharges);
        expect(report.missing.length).toBeLessThanOrEqual(report.recordedCharges);
      }),
      { numRuns: 500 },
    );
    // The worlds reach every outcome: the property is not held by emptiness.
    expect([...seen].sort()).toEqual([
      'duplicates',
      'inFlight',
      'matched',
      'missing',
      'orphans',
      'otherRuns',
    ]);
  });

  it('finds nothing in a run whose every payment is at the gateway exactly once', () => {
    fc.assert(
      fc.property(
        fc.uniqueArray(fc.record({ ref: refArb, status: fc.constantFrom(...statuses) }), {
          selector: (r) => chargeRefToString(r.ref),
          maxLength: 30,
        }),
        fc.array(fc.record({ id: fc.uuid(), metadata: fc.constant({ order_id: '1' }) }), { maxLength: 5 }),
        (generated, foreign) => {
          const runCharges = generated.map(({ ref: of, status }, index) =>
            record(of, {
              status,
              paymentIntentId: status === 'succeeded' || status === 'processing' ? `pi_${index}` : undefined,
            }),
          );
          const intents = [
            ...runCharges.flatMap((charge) =>
              charge.paymentIntentId
                ? [intent(charge.paymentIntentId, metadataOf(charge), { status: charge.status })]
                : [],
            ),
            ...foreign.map((other) => intent(other.id, other.metadata)),
          ];
          const report = build({ runCharges, intents });

          expect(report.matched).toBe(report.recordedCharges);
          expect(report.gatewayPaymentIntents).toBe(report.recordedCharges);
          expect([report.duplicates, report.orphans, report.missing]).toEqual([[], [], []]);
        },
      ),
    );
  });
});

describe('forStorage', () => {
  it('keeps at most MAX_LISTED_FINDINGS of each list, and the exact counts', () => {
    const intents = Array.from({ length: MAX_LISTED_FINDINGS + 3 }, (_, n) =>
      intent(`pi_${n}`, metadataOf(ref(`s${n}`))),
    );
    const report = build({ intents });
    const stored = forStorage(report);

    expect(stored.orphans).toHaveLength(MAX_LISTED_FINDINGS);
    expect(stored.counts.orphans).toBe(MAX_LISTED_FINDINGS + 3);
    expect(stored.truncated).toBe(true);
    expect(forStorage(build({}))).not.toHaveProperty('truncated');
  });
});

/* Orchestration, over small fakes of its ports. */

class FakeReports implements ReconciliationReports {
  readonly items = new Map<string, ReconciliationReport>();
  readonly writes: ReconciliationReport[] = [];
  async put(report: ReconciliationReport) {
    this.items.set(report.date, structuredClone(report));
    this.writes.push(structuredClone(report));
  }
  async get(date: string) {
    return this.items.get(date);
  }
  async getMany(dates: readonly string[]) {
    return dates.flatMap((date) => this.items.get(date) ?? []);
  }
}

class FakeQueue {
  readonly sent: { message: ReconcileMessage; delaySeconds: number }[] = [];
  async send(message: ReconcileMessage, delaySeconds: number) {
    this.sent.push({ message, delaySeconds });
  }
}

/** The gateway's list: PaymentIntents created in [fromMs, toMs), newest first; the ranges asked are kept. */
class FakeLedger implements PaymentIntentLedger {
  readonly ranges: { fromMs: number; toMs: number }[] = [];
  constructor(readonly intents: GatewayPaymentIntent[] = []) {}
  async *list(range: { fromMs: number; toMs: number }) {
    this.ranges.push(range);
    const inRange = this.intents.filter(
      (i) => i.created * 1000 >= range.fromMs && i.created * 1000 < range.toMs,
    );
    yield* [...inRange].sort((a, b) => b.created - a.created);
  }
}

function run(overrides: Partial<Run> = {}): Run {
  return {
    runId: DATE,
    asOf: '2024-06-01T00:05:00.000Z',
    status: 'completed',
    startedAt: '2024-06-01T00:05:00.000Z',
    updatedAt: '2024-06-01T00:30:00.000Z',
    completedAt: '2024-06-01T00:30:00.000Z',
    deadlineAt: '2024-06-01T06:05:00.000Z',
    cursor: { shard: 16 },
    enumerated: true,
    total: 0,
    succeeded: 0,
    failed: 0,
    samples: [],
    claimed: 0,
    triggers: 1,
    ...overrides,
  };
}

function world(options: { run?: Run; charges?: ReconciledCharge[]; intents?: GatewayPaymentIntent[] } = {}) {
  const clock = { now: Date.parse(AT) };
  const runs = new Map<string, Run>(options.run === undefined ? [[DATE, run()]] : [[DATE, options.run]]);
  const charges = new Map(
    (options.charges ?? []).map((c) => [chargeRefToString(c), c as unknown as ChargeRecord]),
  );
  const manifest = (options.charges ?? []).map((c) => chargeRefToString(c));
  const lookups: ChargeRef[][] = [];
  const reports = new FakeReports();
  const queue = new FakeQueue();
  const ledger = new FakeLedger(options.intents);
  const found: ReconciliationReport[] = [];
  const deps: ReconcileDeps = {
    runs: { get: async (runId) => runs.get(runId), manifest: async () => manifest },
    charges: {
      getMany: async (refs) => {
        lookups.push([...refs]);
        return refs.flatMap((r) => {
          const item = charges.get(chargeRefToString(r));
          return item ? [item] : [];
        });
      },
    },
    ledger,
    reports,
    queue,
    now: () => clock.now,
    onReport: (report) => found.push(report),
  };
  return { deps, clock, runs, charges, lookups, reports, queue, ledger, found };
}

describe('requestReconciliation', () => {
  it('answers no-run for a date without a run, and run-not-completed for a run still charging', async () => {
    const none = world();
    none.runs.clear();
    expect(await requestReconciliation({ ...none.deps, runs: none.deps.runs }, DATE)).toEqual({
      kind: 'no-run',
    });

    const running = world({ run: run({ status: 'running', completedAt: undefined }) });
    expect((await requestReconciliation(running.deps, DATE)).kind).toBe('run-not-completed');
    expect(running.queue.sent).toEqual([]);
    expect(running.reports.items.size).toBe(0);
  });

  it('marks the report running, then sends the reconcile message at once', async () => {
    const { deps, reports, queue } = world();

    const outcome = await requestReconciliation(deps, DATE);

    expect(outcome).toMatchObject({
      kind: 'accepted',
      report: { date: DATE, status: 'running', requestedAt: AT },
    });
    expect(reports.items.get(DATE)).toMatchObject({ status: 'running', matched: 0, duplicates: [] });
    expect(queue.sent).toEqual([{ message: { kind: 'reconcile', date: DATE }, delaySeconds: 0 }]);
  });
});

describe('reconcile', () => {
  const created = (iso: string) => Date.parse(iso) / 1000;

  it("lists the run's window, looks up the records of PaymentIntents not among the run's charges, and stores the report", async () => {
    const paid = record(ref('a'));
    const adoptedEarlier = record(ref('early'), { claimedAt: '2024-05-31T23:00:00.000Z' });
    const elsewhere = record(ref('later', { period: '2024-06-02' }), {
      runId: '2024-06-02',
      paymentIntentId: 'pi_later',
    });
    const { deps, ledger, lookups, reports, found } = world({
      charges: [paid, adoptedEarlier, elsewhere],
      intents: [
        intent('pi_a', metadataOf(paid), { created: created('2024-06-01T00:06:00Z') }),
        intent('pi_early', metadataOf(adoptedEarlier), { created: created('2024-05-31T23:00:05Z') }),
        intent('pi_later', metadataOf(elsewhere), { created: created('2024-06-01T01:00:00Z') }),
        intent('pi_orphan', metadataOf(ref('ghost')), { created: created('2024-06-01T01:30:00Z') }),
        // Before the window: yesterday's business.
        intent('pi_old', metadataOf(ref('ghost', { period: '2024-05-31' })), {
          created: created('2024-05-30T12:00:00Z'),
        }),
      ],
    });

    const result = await reconcile(deps, DATE);

    // From the earliest claim (a charge the run adopted), less the margin, to now.
    expect(ledger.ranges).toEqual([
      {
        fromMs: Date.parse('2024-05-31T23:00:00.000Z') - RECONCILIATION_WINDOW_MARGIN_MS,
        toMs: Date.parse(AT) + 1000,
      },
    ]);
    expect(lookups[1]?.map((r) => r.subscriptionId).sort()).toEqual(['ghost', 'later']);
    expect(result.kind).toBe('completed');
    const stored = reports.items.get(DATE);
    expect(stored).toMatchObject({
      status: 'completed',
      recordedCharges: 2,
      matched: 2,
      otherRuns: 1,
      gatewayPaymentIntents: 3,
      orphans: [{ paymentIntentId: 'pi_orphan', reason: 'no-record' }],
      window: { from: '2024-05-31T22:55:00.000Z', to: '2024-06-01T02:00:01.000Z' },
      completedAt: AT,
    });
    expect(found).toEqual([stored]);
    expect(reports.writes.map((w) => w.status)).toEqual(['running', 'completed']);
  });

  it('recomputes and replaces the report on a repeat, keeping the time it was asked for', async () => {
    const { deps, clock, reports, ledger } = world({ charges: [record(ref('a'))] });
    await requestReconciliation(deps, DATE);
    clock.now += 5_000;
    const first = await reconcile(deps, DATE);
    expect(first).toMatchObject({
      report: { requestedAt: AT, orphans: [], missing: [{ paymentIntentId: 'pi_a' }] },
    });

    ledger.intents.push(intent('pi_a', metadataOf(ref('a'))));
    clock.now += 60_000;
    await reconcile(deps, DATE);

    expect(reports.items.get(DATE)).toMatchObject({ status: 'completed', matched: 1, missing: [] });
  });

  it('does nothing for a date without a run or a run not completed', async () => {
    const none = world();
    none.runs.clear();
    expect(await reconcile(none.deps, DATE)).toEqual({ kind: 'no-run' });
    const running = world({ run: run({ status: 'running' }) });
    expect(await reconcile(running.deps, DATE)).toEqual({ kind: 'run-not-completed' });
    expect(running.reports.writes).toEqual([]);
  });

  it('fails, leaving the report running, when the gateway cannot be read (the message is retried)', async () => {
    const { deps, reports } = world();
    const broken: ReconcileDeps = {
      ...deps,
      ledger: {
        // biome-ignore lint/correctness/useYield: a gateway that fails before its first page
        async *list() {
          throw new Error('gateway down');
        },
      },
    };
    await expect(reconcile(broken, DATE)).rejects.toThrow('gateway down');
    expect(reports.items.get(DATE)?.status).toBe('running');
  });
});

describe('scheduling after the run completes', () => {
  it('sends a message due RECONCILE_AFTER the completion, delayed as far as SQS allows', async () => {
    const { deps, queue } = world();

    const message = await scheduleReconciliation(deps, run(), 3_600_000);

    expect(message).toEqual({
      kind: 'reconcile',
      date: DATE,
      notBefore: Date.parse('2024-06-01T01:30:00.000Z'),
    });
    // Completed at 00:30 and the clock says 02:00: due already.
    expect(queue.sent).toEqual([{ message, delaySeconds: 0 }]);

    const later = await scheduleReconciliation(deps, run({ completedAt: AT }), 3_600_000);
    expect(queue.sent[1]).toEqual({ message: later, delaySeconds: 900 });
  });

  it('sends a message that is not due yet on with the delay that remains, and reconciles it once due', async () => {
    const { deps, clock, queue, reports } = world();
    const message: ReconcileMessage = { kind: 'reconcile', date: DATE, notBefore: clock.now + 3_600_000 };

    expect(await processReconcileMessage(deps, message)).toEqual({
      kind: 'deferred',
      notBefore: message.notBefore,
    });
    expect(queue.sent).toEqual([{ message, delaySeconds: 900 }]);
    clock.now += 3_000_000;
    await processReconcileMessage(deps, message);
    expect(queue.sent[1]).toEqual({ message, delaySeconds: 600 });
    expect(reports.items.size).toBe(0);

    clock.now += 599_500;
    expect((await processReconcileMessage(deps, message)).kind).toBe('completed');
    expect(reports.items.get(DATE)?.status).toBe('completed');
  });

  it('parses the message as the runs queue carries it, and refuses a date that is not one', () => {
    expect(reconcileMessageSchema.parse({ kind: 'reconcile', date: DATE, notBefore: 1 })).toEqual({
      kind: 'reconcile',
      date: DATE,
      notBefore: 1,
    });
    expect(reconcileMessageSchema.safeParse({ kind: 'reconcile', date: '2024-02-30' }).success).toBe(false);
    expect(reconcileMessageSchema.safeParse({ runId: DATE, owner: 'x' }).success).toBe(false);
  });
});

describe('RECONCILE_AFTER', () => {
  it('defaults to one hour, takes a duration, and stops start-up naming itself when it does not parse', () => {
    expect(loadConfig({}).reconcileAfterMs).toBe(3_600_000);
    expect(loadConfig({ RECONCILE_AFTER: '90m' }).reconcileAfterMs).toBe(5_400_000);
    expect(() => loadConfig({ RECONCILE_AFTER: '1.5h' })).toThrow(ConfigError);
    expect(() => loadConfig({ RECONCILE_AFTER: 'soon' })).toThrow(/RECONCILE_AFTER/);
  });
});
