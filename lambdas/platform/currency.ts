import * as z from 'zod';

/**
 * Currencies (docs/api.md section 3): ISO 4217 codes in either case (Stripe users write `usd`), kept and answered in
 * upper case. The set is the runtime's own (ICU's list behind `Intl.supportedValuesOf('currency')`, about 160
 * current codes on Node 20), so it follows the platform rather than a list kept by hand; it is also exactly the set
 * Intl can format, which the emails need (lambdas/notifications/domain/money.ts). Pure: the domain imports it.
 */

/** Every ISO 4217 code the runtime knows, upper case. */
export const ISO_CURRENCIES: ReadonlySet<string> = new Set(
  Intl.supportedValuesOf('currency').map((code) => code.toUpperCase()),
);

/** Whether `code` is an ISO 4217 currency code the pipeline takes, in either case. */
export function isCurrencyCode(code: string): boolean {
  return ISO_CURRENCIES.has(code.toUpperCase());
}

const MESSAGE = 'must be an ISO 4217 currency code, in either case, such as "USD", "eur" or "JPY"';

/**
 * A currency in a request: a known ISO 4217 code in either case, parsed to upper case. A refused value is named
 * back only when it looks like a code (three letters), so the message stays short whatever was sent.
 */
export const currencyCode = z
  .string({ error: MESSAGE })
  .toUpperCase()
  .refine((code) => ISO_CURRENCIES.has(code), {
    error: (issue) =>
      typeof issue.input === 'string' && /^[A-Z]{3}$/.test(issue.input)
        ? `${MESSAGE}: "${issue.input}" is not one`
        : MESSAGE,
  });
