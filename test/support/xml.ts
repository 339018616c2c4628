// A strict XML 1.0 parser for error bodies (saxes: a conforming parser that refuses characters XML
// forbids, unlike the lenient parsers clients often use). Throws on anything not well-formed.
import { SaxesParser } from 'saxes';

/** `<Error><Code>…</Code>…</Error>` → { Code: '…', … }; throws if the document is not well-formed XML 1.0. */
export function parseErrorXml(xml: string): Record<string, string> {
  const parser = new SaxesParser({ xmlns: false });
  const fields: Record<string, string> = {};
  const stack: string[] = [];
  let failure: Error | undefined;
  parser.on('error', (err) => {
    failure ??= err;
  });
  parser.on('opentag', (tag) => {
    stack.push(tag.name);
    if (stack.length === 2) fields[tag.name] = '';
  });
  parser.on('text', (text) => {
    if (stack.length === 2) fields[stack[1]!] += text;
  });
  parser.on('closetag', () => void stack.pop());
  parser.write(xml).close();
  if (failure) throw failure;
  return fields;
}
