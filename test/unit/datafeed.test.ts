import { BatchGetCommand, type DynamoDBDocumentClient, QueryCommand } from '@aws-sdk/lib-dynamodb';
import { DynamoDatafeedSubscriptions } from '../../lambdas/billing/adapters/dynamo-datafeed-subscriptions';
import type { ChargeRecord } from '../../lambdas/billing/domain/charges/charge';
import {
  buildDatafeed,
  type DatafeedSubscription,
  datafeedWindows,
} from '../../lambdas/billing/domain/datafeed';
import { parseDatafeed, parseStrictXml } from '../integration/subscriptions/datafeed-xml';

/** The subscription datafeed (docs/api.md `GET /v1/datafeeds/subscriptions/{runId}`), built from fixed inputs. */

const RUN_ID = '2026-03-10';
const GENERATED_AT = '2026-03-10T00:07:00.000Z';

function subscription(id: string, overrides: Partial<DatafeedSubscription> = {}): DatafeedSubscription {
  return {
    storeId: 'acme',
    subscriptionId: id,
    status: 'active',
    customer: { id: `cus_${id}`, email: `${id}@example.com` },
    plan: 'coffee',
    amount: 1999,
    currency: 'USD',
    nextChargeAt: '2026-04-10T00:00:00.000Z',
    dueShard: 'due#03',
    anchor: '2026-03-10T00:00:00.000Z',
    interval: 'month',
    intervalCount: 1,
    cycle: 1,
    ...overrides,
  };
}

function charge(subscriptionId: string, overrides: Partial<ChargeRecord> = {}): ChargeRecord {
  return {
    storeId: 'acme',
    subscriptionId,
    period: RUN_ID,
    attempt: 0,
    amount: 1999,
    currency: 'USD',
    status: 'succeeded',
    runId: RUN_ID,
    paymentIntentId: `pi_${subscriptionId}`,
    resolvedAt: '2026-03-10T00:05:01.000Z',
    ...overrides,
  } as ChargeRecord;
}

const build = (input: Partial<Parameters<typeof buildDatafeed>[0]>) =>
  buildDatafeed({ runId: RUN_ID, storeId: 'acme', generatedAt: GENERATED_AT, charges: [], ...input });

describe('the datafeed of a run', () => {
  it('shows each charged subscription as it stands after the run, its charges, past_due and manage_url', () => {
    const xml = build({
      charges: [
        charge('sub_paid'),
        charge('sub_late', { status: 'failed', declineCode: 'card_declined', paymentIntentId: 'pi_late' }),
      ],
      subscriptions: [
        subscription('sub_paid'),
        subscription('sub_late', {
          status: 'past_due',
          amount: 2500,
          currency: 'EUR',
          dunning: {
            attempt: 2,
            nextRetryAt: '2026-03-13T00:05:01.000Z',
            since: '2026-03-09T00:05:00.000Z',
            declineCode: 'card_declined',
          },
        }),
      ],
      manageUrlOf: (storeId, id) => `https://pay.example.com/manage/${storeId}/${id}?t=a&b=c`,
    });

    const feed = parseDatafeed(xml);
    expect(feed.attributes).toEqual({
      run_id: RUN_ID,
      store_id: 'acme',
      generated_at: GENERATED_AT,
      subscriptions: '2',
    });
    expect(feed.subscriptions.map((s) => s.id)).toEqual(['sub_late', 'sub_paid']);
    const [late, paid] = feed.subscriptions;
    expect(paid?.attributes).toEqual({
      id: 'sub_paid',
      status: 'active',
      customer_id: 'cus_sub_paid',
      customer_email: 'sub_paid@example.com',
      plan: 'coffee',
      amount: '1999',
      currency: 'USD',
      next_charge_at: '2026-04-10T00:00:00.000Z',
    });
    expect(paid?.charges).toEqual([
      {
        period: RUN_ID,
        status: 'succeeded',
        amount: 1999,
        currency: 'USD',
        attributes: expect.objectContaining({ attempt: '0', payment_intent: 'pi_sub_paid' }),
      },
    ]);
    expect(paid?.pastDue).toBeUndefined();
    expect(paid?.manageUrl).toBe('https://pay.example.com/manage/acme/sub_paid?t=a&b=c');
    expect(xml).toContain(
      '<manage_url>https://pay.example.com/manage/acme/sub_paid?t=a&amp;b=c</manage_url>',
    );

    expect(late?.attributes).toMatchObject({ status: 'past_due', amount: '2500', currency: 'EUR' });
    expect(late?.charges.map((c) => [c.status, c.attributes.decline_code])).toEqual([
      ['failed', 'card_declined'],
    ]);
    // The amount owed is the subscription's, in its currency (the parent's attributes).
    expect(late?.pastDue).toEqual({
      amount: '2500',
      since: '2026-03-09T00:05:00.000Z',
      attempt: '2',
      next_retry_at: '2026-03-13T00:05:01.000Z',
      decline_code: 'card_declined',
    });
    expect(late?.manageUrl).toBe('https://pay.example.com/manage/acme/sub_late?t=a&b=c');
  });

  it('says when a past-due subscription waits for a new payment method, and leaves out what it does not know', () => {
    const xml = build({
      charges: [charge('sub_hard', { status: 'failed', declineCode: 'stolen_card' })],
      subscriptions: [
        subscription('sub_hard', {
          status: 'past_due',
          dunning: { attempt: 1, nextRetryAt: '2026-03-26T00:05:00.000Z', waitingForPaymentMethod: true },
        }),
      ],
    });
    expect(parseDatafeed(xml).subscriptions[0]?.pastDue).toEqual({
      amount: '1999',
      attempt: '1',
      next_retry_at: '2026-03-26T00:05:00.000Z',
      waiting_for_payment_method: 'true',
    });
  });

  it('writes no manage_url without a link maker, and only past-due subscriptions get past_due', () => {
    const xml = build({
      charges: [charge('sub_a'), charge('sub_b', { status: 'failed' })],
      subscriptions: [
        subscription('sub_a'),
        // Canceled by dunning's final action in this run: no longer past due, no next charge.
        subscription('sub_b', {
          status: 'canceled',
          dueShard: undefined,
          canceledAt: '2026-03-10T00:05:02.000Z',
          cancelReason: 'payment_failed',
          dunning: { attempt: 3, nextRetryAt: '2026-03-10T00:00:00.000Z' },
        }),
      ],
    });
    expect(xml).not.toContain('manage_url');
    expect(xml).not.toContain('past_due');
    const feed = parseDatafeed(xml);
    expect(feed.subscriptions[1]?.attributes).not.toHaveProperty('next_charge_at');
    // …and it is also among the day's cancellations, with the reason as the API shows it.
    expect(feed.canceledToday?.subscriptions).toEqual([
      expect.objectContaining({ id: 'sub_b', reason: 'dunning', canceled_at: '2026-03-10T00:05:02.000Z' }),
    ]);
  });

  it('writes a charged subscription it could not read with its id and charges, as before', () => {
    const xml = build({ charges: [charge('sub_gone')] });
    expect(xml).toContain('<subscription id="sub_gone">');
    const feed = parseDatafeed(xml);
    expect(feed.subscriptions[0]?.attributes).toEqual({ id: 'sub_gone' });
    expect(feed.canceledToday).toEqual({
      attributes: { from: '2026-03-10T00:00:00.000Z', to: '2026-03-11T00:00:00.000Z', count: '0' },
      subscriptions: [],
    });
    expect(feed.endingSoon).toEqual({
      attributes: { from: '2026-03-11T00:00:00.000Z', to: '2026-03-18T00:00:00.000Z', count: '0' },
      subscriptions: [],
    });
  });

  it('lists in canceled_today exactly the cancellations of the run’s UTC day, with their reason', () => {
    const canceled = (id: string, canceledAt: string, cancelReason?: DatafeedSubscription['cancelReason']) =>
      subscription(id, {
        status: 'canceled',
        dueShard: undefined,
        canceledAt,
        ...(cancelReason ? { cancelReason } : {}),
      });
    const xml = build({
      charges: [charge('sub_charged')],
      subscriptions: [
        subscription('sub_charged'),
        canceled('c_day_start', '2026-03-10T00:00:00.000Z', 'requested'),
        canceled('c_day_end', '2026-03-10T23:59:59.999Z', 'ended'),
        canceled('c_dunning', '2026-03-10T12:00:00.000Z', 'payment_failed'),
        canceled('c_offset', '2026-03-11T01:30:00.000+02:00', 'requested'),
        canceled('c_unknown_reason', '2026-03-10T08:00:00.000Z'),
        canceled('c_yesterday', '2026-03-09T23:59:59.999Z', 'requested'),
        canceled('c_tomorrow', '2026-03-11T00:00:00.000Z', 'requested'),
        // canceledAt in the day but active again would be a contradiction: only canceled ones are listed.
        subscription('c_active', { canceledAt: '2026-03-10T10:00:00.000Z' }),
        subscription('other_store', {
          storeId: 'other',
          status: 'canceled',
          canceledAt: '2026-03-10T10:00:00.000Z',
        }),
      ],
    });
    const list = parseDatafeed(xml).canceledToday;
    expect(list?.attributes.count).toBe('5');
    expect(list?.subscriptions.map((s) => [s.id, s.reason])).toEqual([
      ['c_day_end', 'ended'],
      ['c_day_start', 'requested'],
      ['c_dunning', 'dunning'],
      ['c_offset', 'requested'],
      ['c_unknown_reason', undefined],
    ]);
    expect(list?.subscriptions[0]).toEqual({
      id: 'c_day_end',
      status: 'canceled',
      customer_id: 'cus_c_day_end',
      customer_email: 'c_day_end@example.com',
      plan: 'coffee',
      amount: '1999',
      currency: 'USD',
      canceled_at: '2026-03-10T23:59:59.999Z',
      reason: 'ended',
    });
    // The day's cancellations are not charged subscriptions: the count is of those.
    expect(parseDatafeed(xml).attributes.subscriptions).toBe('1');
  });

  it('lists in ending_soon the endAts of the 7 UTC days after the run’s day, not the canceled ones', () => {
    const ending = (id: string, endAt: string, overrides: Partial<DatafeedSubscription> = {}) =>
      subscription(id, { endAt, ...overrides });
    const xml = build({
      charges: [charge('sub_charged')],
      subscriptions: [
        subscription('sub_charged'),
        ending('e_run_day', '2026-03-10T23:59:59.999Z'),
        // Its last charge is still ahead of its endAt: shown, as the API shows it.
        ending('e_first', '2026-03-11T00:00:00.000Z', { nextChargeAt: '2026-03-10T12:00:00.000Z' }),
        ending('e_last', '2026-03-17T23:59:59.999Z', { status: 'paused', dueShard: undefined }),
        ending('e_past_due', '2026-03-15T00:00:00.000Z', { status: 'past_due' }),
        ending('e_after', '2026-03-18T00:00:00.000Z'),
        ending('e_offset', '2026-03-18T01:00:00.000+02:00'),
        ending('e_canceled', '2026-03-12T00:00:00.000Z', {
          status: 'canceled',
          canceledAt: '2026-03-01T00:00:00.000Z',
          cancelReason: 'requested',
        }),
      ],
    });
    const list = parseDatafeed(xml).endingSoon;
    expect(list?.attributes).toEqual({
      from: '2026-03-11T00:00:00.000Z',
      to: '2026-03-18T00:00:00.000Z',
      count: '4',
    });
    expect(list?.subscriptions.map((s) => [s.id, s.status, s.end_at])).toEqual([
      ['e_first', 'active', '2026-03-11T00:00:00.000Z'],
      ['e_last', 'paused', '2026-03-17T23:59:59.999Z'],
      ['e_offset', 'active', '2026-03-18T01:00:00.000+02:00'],
      ['e_past_due', 'past_due', '2026-03-15T00:00:00.000Z'],
    ]);
    expect(list?.subscriptions[0]).toHaveProperty('next_charge_at', '2026-03-10T12:00:00.000Z');
    expect(list?.subscriptions[1]).not.toHaveProperty('next_charge_at');
    // A subscription may be both charged in the run and ending soon: it is in both.
    const both = build({
      charges: [charge('sub_x')],
      subscriptions: [ending('sub_x', '2026-03-12T00:00:00.000Z')],
    });
    expect(parseDatafeed(both).endingSoon?.subscriptions.map((s) => s.id)).toEqual(['sub_x']);
    expect(parseDatafeed(both).subscriptions.map((s) => s.id)).toEqual(['sub_x']);
  });

  it('escapes hostile text everywhere, and stays a well-formed document a strict parser reads back', () => {
    const hostile = `<plan name="x" & 'y'></subscription><injected/>\u0001\ud800]]>`;
    const xml = build({
      charges: [charge('sub_h', { paymentIntentId: 'pi_<&>"\'' })],
      subscriptions: [
        subscription('sub_h', {
          plan: hostile,
          customer: { id: 'cus_"quoted"', email: "o'brien+<x>@example.com" },
          status: 'past_due',
          dunning: { attempt: 1, nextRetryAt: '2026-03-11T00:00:00.000Z', declineCode: '&decline<' },
        }),
        subscription('c_h', {
          status: 'canceled',
          plan: hostile,
          canceledAt: '2026-03-10T09:00:00.000Z',
          cancelReason: 'requested',
        }),
        subscription('e_h', { plan: hostile, endAt: '2026-03-12T00:00:00.000Z' }),
      ],
      manageUrlOf: () => `https://x.example/m?a=1&b=</manage_url><evil>`,
    });
    // Tags balance and nothing was injected: the strict parser's tree has exactly the expected elements.
    const root = parseStrictXml(xml);
    const names = (element: ReturnType<typeof parseStrictXml>): string[] => [
      element.name,
      ...element.children.flatMap(names),
    ];
    expect(names(root)).toEqual([
      'subscription_datafeed',
      'subscription',
      'charge',
      'past_due',
      'manage_url',
      'canceled_today',
      'subscription',
      'ending_soon',
      'subscription',
    ]);
    const feed = parseDatafeed(xml);
    const plain = `<plan name="x" & 'y'></subscription><injected/>]]>`;
    expect(feed.subscriptions[0]?.attributes).toMatchObject({
      plan: plain,
      customer_id: 'cus_"quoted"',
      customer_email: "o'brien+<x>@example.com",
    });
    expect(feed.subscriptions[0]?.charges[0]?.attributes.payment_intent).toBe('pi_<&>"\'');
    expect(feed.subscriptions[0]?.pastDue?.decline_code).toBe('&decline<');
    expect(feed.subscriptions[0]?.manageUrl).toBe('https://x.example/m?a=1&b=</manage_url><evil>');
    expect(feed.canceledToday?.subscriptions[0]?.plan).toBe(plain);
    expect(feed.endingSoon?.subscriptions[0]?.plan).toBe(plain);
    expect(xml).not.toContain('<injected');
    expect(xml).not.toContain('<evil');
  });

  it('refuses a document that is not well-formed (the checker itself works)', () => {
    const good = build({ charges: [charge('a')], subscriptions: [subscription('a')] });
    expect(() => parseDatafeed(good)).not.toThrow();
    for (const broken of [
      good.replace('plan="coffee"', 'plan="a & b"'),
      good.replace('plan="coffee"', 'plan="<b>"'),
      good.replace('</subscription>\n', ''),
      good.replace('<canceled_today', '<canceled_today count="1"'),
      good.replace('  <ending_soon', '  <manage_url>x</manage_url>\n  <ending_soon'),
    ]) {
      expect(() => parseDatafeed(broken)).toThrow();
    }
  });

  it('computes the windows from the run id, and refuses what is not one', () => {
    expect(datafeedWindows('2024-02-28')).toEqual({
      canceled: { from: '2024-02-28T00:00:00.000Z', to: '2024-02-29T00:00:00.000Z' },
      ending: { from: '2024-02-29T00:00:00.000Z', to: '2024-03-07T00:00:00.000Z' },
    });
    expect(() => datafeedWindows('March')).toThrow(RangeError);
  });
});

describe('DynamoDatafeedSubscriptions', () => {
  /** A document client that answers from `answer` and records what it was sent. */
  function fakeClient(answer: (command: unknown, call: number) => unknown) {
    const sent: unknown[] = [];
    const client = {
      send: async (command: unknown) => {
        sent.push(command);
        return answer(command, sent.length);
      },
    } as unknown as DynamoDBDocumentClient;
    return { client, sent };
  }

  it('reads 100 keys per BatchGetItem, once each, and asks again for unprocessed keys', async () => {
    const keys = Array.from({ length: 230 }, (_, i) => ({ storeId: 'acme', subscriptionId: `s${i}` }));
    const backoffs: number[] = [];
    const { client, sent } = fakeClient((command, call) => {
      const request = (command as BatchGetCommand).input.RequestItems?.subs;
      const asked = (request?.Keys ?? []) as { storeId: string; subscriptionId: string }[];
      // The first answer leaves 3 keys unprocessed.
      const unprocessed = call === 1 ? asked.slice(0, 3) : [];
      return {
        Responses: { subs: asked.slice(unprocessed.length).map((key) => subscription(key.subscriptionId)) },
        ...(unprocessed.length > 0 ? { UnprocessedKeys: { subs: { Keys: unprocessed } } } : {}),
      };
    });
    const reader = new DynamoDatafeedSubscriptions({
      client,
      tableName: 'subs',
      backoff: async (tries) => {
        backoffs.push(tries);
      },
    });
    const found = await reader.getMany([...keys, ...keys.slice(0, 10)]);
    expect(found.map((s) => s.subscriptionId).sort()).toEqual(keys.map((k) => k.subscriptionId).sort());
    const sizes = sent.map((command) => (command as BatchGetCommand).input.RequestItems?.subs?.Keys?.length);
    expect(sizes).toEqual([100, 3, 100, 30]);
    expect(backoffs).toEqual([0]);
    const first = (sent[0] as BatchGetCommand).input.RequestItems?.subs;
    expect(first).toMatchObject({ ConsistentRead: true, ExpressionAttributeNames: { '#status': 'status' } });
    expect(first?.ProjectionExpression).toContain('#dunning');
  });

  it('queries the store’s partition, page by page, with a filter on the windows (no scan, no index)', async () => {
    const { client, sent } = fakeClient((_command, call) =>
      call === 1
        ? { Items: [subscription('a')], LastEvaluatedKey: { storeId: 'acme', subscriptionId: 'a' } }
        : { Items: [subscription('b')] },
    );
    const reader = new DynamoDatafeedSubscriptions({ client, tableName: 'subs' });
    const found = await reader.ofWindows('acme', datafeedWindows(RUN_ID));
    expect(found.map((s) => s.subscriptionId)).toEqual(['a', 'b']);
    expect(sent).toHaveLength(2);
    const [first, second] = sent as QueryCommand[];
    expect(first).toBeInstanceOf(QueryCommand);
    expect(first?.input).not.toHaveProperty('IndexName');
    expect(first?.input).toMatchObject({
      TableName: 'subs',
      KeyConditionExpression: 'storeId = :store',
      ExpressionAttributeValues: {
        ':store': 'acme',
        // Widened by a day each side; the builder keeps the exact windows.
        ':canceledFrom': '2026-03-09T00:00:00.000Z',
        ':canceledTo': '2026-03-12T00:00:00.000Z',
        ':endingFrom': '2026-03-10T00:00:00.000Z',
        ':endingTo': '2026-03-19T00:00:00.000Z',
      },
    });
    expect(first?.input.FilterExpression).toContain('canceledAt BETWEEN');
    expect(second?.input.ExclusiveStartKey).toEqual({ storeId: 'acme', subscriptionId: 'a' });
    expect(sent.some((command) => command instanceof BatchGetCommand)).toBe(false);
  });
});
