/**
 * A strict reader of the subscription datafeed (docs/api.md `GET /v1/datafeeds/subscriptions/{runId}`) for tests.
 * No XML parser is installed (the AWS SDK's internal one forgives unescaped `&` and `<`), so this checks
 * well-formedness itself for what the feed may contain: an XML declaration, elements with double- or single-quoted
 * attributes, whitespace between them, and nothing else. Any other construct (text, comments, CDATA, a DOCTYPE), a
 * bare `&` or `<` in a value, an unknown entity, a repeated attribute or a mismatched tag is an error: the feed must
 * be readable by any strict parser a merchant uses.
 */

export interface XmlElement {
  readonly name: string;
  readonly attributes: Readonly<Record<string, string>>;
  readonly children: readonly XmlElement[];
}

export interface DatafeedCharge {
  readonly period: string;
  readonly status: string;
  readonly amount: number;
  readonly currency: string;
  readonly attributes: Readonly<Record<string, string>>;
}

export interface Datafeed {
  readonly attributes: Readonly<Record<string, string>>;
  readonly subscriptions: readonly { readonly id: string; readonly charges: readonly DatafeedCharge[] }[];
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

/** Reads the datafeed's fixed structure from a strictly parsed document. */
export function parseDatafeed(xml: string): Datafeed {
  const root = parseStrictXml(xml);
  if (root.name !== 'subscription_datafeed') throw new Error(`root element <${root.name}>`);
  const subscriptions = root.children.map((subscription) => {
    if (subscription.name !== 'subscription' || subscription.attributes.id === undefined) {
      throw new Error(`<${subscription.name}> where <subscription id="…"> belongs`);
    }
    const charges = subscription.children.map((charge): DatafeedCharge => {
      const { period, status, amount, currency } = charge.attributes;
      if (charge.name !== 'charge' || charge.children.length > 0) {
        throw new Error(`<${charge.name}> where an empty <charge/> belongs`);
      }
      if (!period || !status || !amount || !/^\d+$/.test(amount) || !currency) {
        throw new Error(`<charge> without period, status, amount and currency: ${JSON.stringify(charge)}`);
      }
      return { period, status, amount: Number(amount), currency, attributes: charge.attributes };
    });
    return { id: subscription.attributes.id, charges };
  });
  return { attributes: root.attributes, subscriptions };
}

function decode(value: string): string {
  return value.replace(/&(amp|lt|gt|quot|apos|#[0-9]+|#x[0-9A-Fa-f]+);/g, (_, entity: string) => {
    if (entity.startsWith('#x')) return String.fromCodePoint(Number.parseInt(entity.slice(2), 16));
    if (entity.startsWith('#')) return String.fromCodePoint(Number.parseInt(entity.slice(1), 10));
    return { amp: '&', lt: '<', gt: '>', quot: '"', apos: "'" }[entity] as string;
  });
}
