/**
 * A strict reader of the subscription datafeed (docs/api.md `GET /v1/datafeeds/subscriptions/{runId}`) for tests.
 * No XML parser is installed (the AWS SDK's internal one forgives unescaped `&` and `<`), so this checks
 * well-formedness itself for what the feed may contain: an XML declaration, elements with double- or single-quoted
 * attributes, whitespace between them, and text in elements that hold no element (`<manage_url>`). Any other
 * construct (mixed content, comments, CDATA, a DOCTYPE), a bare `&` or `<` in a value, an unknown entity, a repeated
 * attribute or a mismatched tag is an error: the feed must be readable by any strict parser a merchant uses.
 */

export interface XmlElement {
  readonly name: string;
  readonly attributes: Readonly<Record<string, string>>;
  readonly children: readonly XmlElement[];
  /** The element's text, decoded, when it holds text and no element. */
  readonly text?: string;
}

export interface DatafeedCharge {
  readonly period: string;
  readonly status: string;
  readonly amount: number;
  readonly currency: string;
  readonly attributes: Readonly<Record<string, string>>;
}

export interface DatafeedSubscription {
  readonly id: string;
  /** Every attribute of the `<subscription>` (id, status, customer_id, customer_email, plan, amount, …). */
  readonly attributes: Readonly<Record<string, string>>;
  readonly charges: readonly DatafeedCharge[];
  /** The `<past_due>` block's attributes, when it is there. */
  readonly pastDue?: Readonly<Record<string, string>>;
  readonly manageUrl?: string;
}

export interface DatafeedList {
  /** The list's own attributes (`from`, `to`, `count`). */
  readonly attributes: Readonly<Record<string, string>>;
  /** Each listed subscription's attributes. */
  readonly subscriptions: readonly Readonly<Record<string, string>>[];
}

export interface Datafeed {
  readonly attributes: Readonly<Record<string, string>>;
  readonly subscriptions: readonly DatafeedSubscription[];
  /** `<canceled_today>`, when the feed has it (a store without charges gets a feed without it). */
  readonly canceledToday?: DatafeedList;
  readonly endingSoon?: DatafeedList;
}

const NAME = /[A-Za-z_:][-A-Za-z0-9_:.]*/y;
const ATTRIBUTE = /\s+([A-Za-z_:][-A-Za-z0-9_:.]*)\s*=\s*(?:"([^"]*)"|'([^']*)')/y;
const VALUE = /^(?:[^<&]|&(?:amp|lt|gt|quot|apos|#[0-9]+|#x[0-9A-Fa-f]+);)*$/;
const DECLARATION = /^<\?xml version="1\.0" encoding="UTF-8"\?>/;
// biome-ignore lint/suspicious/noControlCharactersInRegex: exactly what XML 1.0 cannot carry.
const NOT_XML = /[\u0000-\u0008\u000B\u000C\u000E-\u001F\uFFFE\uFFFF]/;

/** Parses `xml` strictly into its root element. @throws on anything that is not well-formed. */
export function parseStrictXml(xml: string): XmlElement {
  if (NOT_XML.test(xml)) throw new Error('the document holds characters XML 1.0 does not allow');
  const declaration = DECLARATION.exec(xml);
  if (!declaration)
    throw new Error('the document does not start with <?xml version="1.0" encoding="UTF-8"?>');
  let at = declaration[0].length;
  const fail = (message: string): never => {
    throw new Error(`${message} at offset ${at}: ${JSON.stringify(xml.slice(at, at + 60))}`);
  };
  const skipSpace = () => {
    while (at < xml.length && ' \t\r\n'.includes(xml[at] as string)) at += 1;
  };

  const element = (): XmlElement => {
    if (xml[at] !== '<') fail('expected an element');
    at += 1;
    NAME.lastIndex = at;
    const name = NAME.exec(xml)?.[0] ?? fail('expected an element name');
    at += name.length;
    const attributes: Record<string, string> = {};
    for (;;) {
      ATTRIBUTE.lastIndex = at;
      const match = ATTRIBUTE.exec(xml);
      if (!match) break;
      const [whole, attribute = '', doubleQuoted, singleQuoted] = match;
      const raw = doubleQuoted ?? singleQuoted ?? '';
      if (Object.hasOwn(attributes, attribute)) fail(`attribute "${attribute}" repeated`);
      if (!VALUE.test(raw)) fail(`attribute ${attribute}="${raw}" holds an unescaped & or <`);
      attributes[attribute] = decode(raw);
      at += whole.length;
    }
    skipSpace();
    if (xml.startsWith('/>', at)) {
      at += 2;
      return { name, attributes, children: [] };
    }
    if (xml[at] !== '>') fail(`expected > or /> closing <${name}`);
    at += 1;
    const start = at;
    const textEnd = xml.indexOf('<', at);
    const raw = xml.slice(start, textEnd === -1 ? xml.length : textEnd);
    if (raw.trim() !== '' && xml.startsWith(`</${name}>`, textEnd)) {
      // Text content: the element holds nothing else.
      if (!VALUE.test(raw) || raw.includes(']]>')) fail(`<${name}> holds text with an unescaped & or <`);
      at = textEnd + name.length + 3;
      return { name, attributes, children: [], text: decode(raw) };
    }
    const children: XmlElement[] = [];
    for (;;) {
      skipSpace();
      if (xml.startsWith('</', at)) break;
      if (at >= xml.length) fail(`<${name}> is never closed`);
      children.push(element());
    }
    const close = `</${name}>`;
    if (!xml.startsWith(close, at)) fail(`expected ${close}`);
    at += close.length;
    return { name, attributes, children };
  };

  skipSpace();
  const root = element();
  skipSpace();
  if (at !== xml.length) fail('content after the root element');
  return root;
}

/** Reads the datafeed's fixed structure from a strictly parsed document. @throws on any other structure. */
export function parseDatafeed(xml: string): Datafeed {
  const root = parseStrictXml(xml);
  if (root.name !== 'subscription_datafeed') throw new Error(`root element <${root.name}>`);
  const subscriptions: DatafeedSubscription[] = [];
  let canceledToday: DatafeedList | undefined;
  let endingSoon: DatafeedList | undefined;
  for (const child of root.children) {
    if (child.name === 'subscription' && !canceledToday && !endingSoon) {
      subscriptions.push(subscriptionOf(child));
    } else if (child.name === 'canceled_today' && !canceledToday && !endingSoon) {
      canceledToday = listOf(child);
    } else if (child.name === 'ending_soon' && canceledToday && !endingSoon) {
      endingSoon = listOf(child);
    } else {
      throw new Error(
        `<${child.name}> where <subscription>, then <canceled_today>, then <ending_soon> belong`,
      );
    }
  }
  if (canceledToday && !endingSoon) throw new Error('<canceled_today> without <ending_soon>');
  return {
    attributes: root.attributes,
    subscriptions,
    ...(canceledToday ? { canceledToday } : {}),
    ...(endingSoon ? { endingSoon } : {}),
  };
}

/** `<subscription id …>`: its charges, then `<past_due/>` at most once, then `<manage_url>` at most once. */
function subscriptionOf(subscription: XmlElement): DatafeedSubscription {
  const { id } = subscription.attributes;
  if (id === undefined || subscription.text !== undefined) throw new Error('<subscription> without an id');
  const charges: DatafeedCharge[] = [];
  let pastDue: Readonly<Record<string, string>> | undefined;
  let manageUrl: string | undefined;
  for (const child of subscription.children) {
    if (
      child.name === 'charge' &&
      child.children.length === 0 &&
      child.text === undefined &&
      !pastDue &&
      !manageUrl
    ) {
      const { period, status, amount, currency } = child.attributes;
      if (!period || !status || !amount || !/^\d+$/.test(amount) || !currency) {
        throw new Error(`<charge> without period, status, amount and currency: ${JSON.stringify(child)}`);
      }
      charges.push({ period, status, amount: Number(amount), currency, attributes: child.attributes });
    } else if (
      child.name === 'past_due' &&
      child.children.length === 0 &&
      child.text === undefined &&
      !pastDue &&
      !manageUrl
    ) {
      pastDue = child.attributes;
    } else if (child.name === 'manage_url' && child.text !== undefined && manageUrl === undefined) {
      manageUrl = child.text;
    } else {
      throw new Error(`<${child.name}> out of place in <subscription id="${id}">`);
    }
  }
  return {
    id,
    attributes: subscription.attributes,
    charges,
    ...(pastDue ? { pastDue } : {}),
    ...(manageUrl !== undefined ? { manageUrl } : {}),
  };
}

/** `<canceled_today>` or `<ending_soon>`: empty `<subscription …/>` elements, as many as its `count` says. */
function listOf(list: XmlElement): DatafeedList {
  const subscriptions = list.children.map((child) => {
    if (
      child.name !== 'subscription' ||
      child.children.length > 0 ||
      child.text !== undefined ||
      !child.attributes.id
    ) {
      throw new Error(`<${child.name}> where an empty <subscription id="…"/> belongs in <${list.name}>`);
    }
    return child.attributes;
  });
  if (list.text !== undefined || list.attributes.count !== String(subscriptions.length)) {
    throw new Error(`<${list.name} count="${list.attributes.count}"> lists ${subscriptions.length}`);
  }
  return { attributes: list.attributes, subscriptions };
}

function decode(value: string): string {
  return value.replace(/&(amp|lt|gt|quot|apos|#[0-9]+|#x[0-9A-Fa-f]+);/g, (_, entity: string) => {
    if (entity.startsWith('#x')) return String.fromCodePoint(Number.parseInt(entity.slice(2), 16));
    if (entity.startsWith('#')) return String.fromCodePoint(Number.parseInt(entity.slice(1), 10));
    return { amp: '&', lt: '<', gt: '>', quot: '"', apos: "'" }[entity] as string;
  });
}
