/**
 * Amounts in emails. The API's amounts are integers in the currency's minor units as the payment gateway (Stripe's
 * API, docs/api.md section 5) counts them, so the exponent comes from Stripe's lists, not from Intl: Intl's digits
 * are CLDR's display digits, which differ for some currencies (HUF has 2 minor units at the gateway, 0 display
 * digits in CLDR): reading 1999 HUF with Intl's digits would write a hundred times the amount charged.
 */

/** Currencies whose amounts count whole units (Stripe's zero-decimal currencies). */
const ZERO_DECIMAL = new Set([
  'BIF',
  'CLP',
  'DJF',
  'GNF',
  'JPY',
  'KMF',
  'KRW',
  'MGA',
  'PYG',
  'RWF',
  'UGX',
  'VND',
  'VUV',
  'XAF',
  'XOF',
  'XPF',
]);
/** Currencies whose amounts count thousandths (Stripe's three-decimal currencies). */
const THREE_DECIMAL = new Set(['BHD', 'JOD', 'KWD', 'OMR', 'TND']);

/** How many decimal places one unit of `currency` has in an API amount: 0, 2 or 3. */
export function minorUnitExponent(currency: string): number {
  const code = currency.toUpperCase();
  if (ZERO_DECIMAL.has(code)) return 0;
  if (THREE_DECIMAL.has(code)) return 3;
  return 2;
}

/** The locale of the emails' numbers and dates (the emails are written in English). */
export const EMAIL_LOCALE = 'en-US';

/**
 * `amount` minor units of `currency` as people read them: 1999 USD → "$19.99", 1200 JPY → "¥1,200",
 * 1500 KWD → "KWD 1.500". Exact for any integer (the number is handed to Intl as a decimal string, never divided
 * as a float) and never rounded: a currency that CLDR shows without decimals (HUF) shows them when the amount has
 * a fraction ("HUF 19.90"), and only then ("HUF 2,000").
 * @throws RangeError for a currency code Intl cannot format.
 */
export function formatMoney(amount: number, currency: string): string {
  const code = currency.toUpperCase();
  const exponent = minorUnitExponent(code);
  const units = BigInt(amount);
  const displayDigits =
    new Intl.NumberFormat(EMAIL_LOCALE, { style: 'currency', currency: code }).resolvedOptions()
      .maximumFractionDigits ?? 2;
  const hasFraction = units % 10n ** BigInt(exponent) !== 0n;
  const digits = hasFraction ? Math.max(displayDigits, exponent) : displayDigits;
  const format = new Intl.NumberFormat(EMAIL_LOCALE, {
    style: 'currency',
    currency: code,
    minimumFractionDigits: digits,
    maximumFractionDigits: digits,
  });
  return format.format(`${units}E-${exponent}` as Intl.StringNumericLiteral);
}
