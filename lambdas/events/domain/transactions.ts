import * as z from 'zod';
import { currencyCode } from '../../platform/currency';

/**
 * Transactions a storefront hands over (docs/api.md `POST /v1/transactions`). Accepting one is a single
 * conditional write of the record below; the transactions table's stream is the outbox that turns it into a
 * `transaction.created` event, so the storefront never waits on (or is failed by) the webhook side.
 */

/** Transaction ids come from the storefront and become sort keys and webhook payloads: keep them plain. */
const TRANSACTION_ID_PATTERN = /^[A-Za-z0-9_.:-]{1,128}$/;

/** Amounts are integers in minor units (cents), so no float ever rounds money. */
const minorUnits = z
  .number()
  .int('must be an integer amount in minor units')
  .min(0, 'must not be negative')
  .max(Number.MAX_SAFE_INTEGER);

export const transactionInput = z.strictObject({
  id: z
    .string()
    .regex(TRANSACTION_ID_PATTERN, 'must be 1-128 characters of A-Z, a-z, 0-9, "_", "-", "." or ":"'),
  customer: z.strictObject({
    id: z.string().min(1, 'must not be empty').max(128, 'must be at most 128 characters').optional(),
    email: z.email('must be an email address').max(254, 'must be at most 254 characters'),
  }),
  currency: currencyCode,
  total: minorUnits,
  items: z
    .array(
      z.strictObject({
        sku: z.string().min(1, 'must not be empty').max(128, 'must be at most 128 characters'),
        name: z.string().min(1, 'must not be empty').max(500, 'must be at most 500 characters'),
        quantity: z.number().int('must be a whole number').min(1, 'must be at least 1').max(1_000_000),
        unitPrice: minorUnits,
      }),
    )
    .min(1, 'must hold at least one item')
    .max(500, 'must hold at most 500 items'),
  createdAt: z.iso.datetime({ offset: true, message: 'must be an ISO 8601 date-time' }).optional(),
  metadata: z
    .record(z.string().min(1).max(40, 'keys must be at most 40 characters'), z.string().max(500))
    .refine((metadata) => Object.keys(metadata).length <= 50, 'must have at most 50 keys')
    .optional(),
});

export type TransactionInput = z.infer<typeof transactionInput>;

/** The stored transaction: the validated body with `createdAt` defaulted to when it was accepted. */
export type Transaction = TransactionInput & { readonly createdAt: string };

/**
 * The transactions table's item, exactly (the fanout reads these names from the stream's NEW_IMAGE).
 * `fingerprint` digests the request, so a retry can be told from a different transaction with the same id.
 */
export interface AcceptedTransaction {
  readonly storeId: string;
  readonly txnId: string;
  readonly eventId: string;
  readonly fingerprint: string;
  /** ISO time. */
  readonly acceptedAt: string;
  readonly transaction: Transaction;
}

/** Port: the transactions table. */
export interface TransactionsRepository {
  /** Writes the record unless the store already has a transaction with this id; then returns that one's identity. */
  accept(
    record: AcceptedTransaction,
  ): Promise<{ accepted: true } | { accepted: false; existing: { eventId: string; fingerprint: string } }>;
}

export type AcceptOutcome =
  | { readonly outcome: 'accepted'; readonly eventId: string }
  /** The same transaction was accepted before: answer as the first time. */
  | { readonly outcome: 'duplicate'; readonly eventId: string }
  /** Another transaction with this id was accepted before. */
  | { readonly outcome: 'conflict' };

export async function acceptTransaction(
  repository: TransactionsRepository,
  input: {
    readonly storeId: string;
    readonly transaction: TransactionInput;
    readonly fingerprint: string;
    readonly eventId: string;
    readonly acceptedAt: string;
  },
): Promise<AcceptOutcome> {
  const result = await repository.accept({
    storeId: input.storeId,
    txnId: input.transaction.id,
    eventId: input.eventId,
    fingerprint: input.fingerprint,
    acceptedAt: input.acceptedAt,
    transaction: { ...input.transaction, createdAt: input.transaction.createdAt ?? input.acceptedAt },
  });
  if (result.accepted) return { outcome: 'accepted', eventId: input.eventId };
  if (result.existing.fingerprint === input.fingerprint) {
    return { outcome: 'duplicate', eventId: result.existing.eventId };
  }
  return { outcome: 'conflict' };
}
