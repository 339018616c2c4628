// OSS image styles on a bucket URL (`/{bucket}?style…`, or `/?style…` on a virtual-hosted bucket):
//   PUT    ?style&styleName=N  <Style><Content>image/…</Content></Style>  → 200 (PutStyle; replaces an existing one)
//   GET    ?style&styleName=N  → <Style><Name/><Content/><Category/><CreateTime/><LastModifyTime/></Style> (GetStyle)
//   GET    ?style              → <StyleList><Style>…</Style>…</StyleList> (ListStyle)
//   DELETE ?style&styleName=N  → 204 (DeleteStyle; also for a style that does not exist)
// Shapes as OSS's API reference shows them (help.aliyun.com …/developer-reference/{put,get,list,delete}style).
// OSS lets only the bucket owner manage styles; here a key that may write the bucket puts and deletes
// them, and a request that may read the bucket (a key, or anyone on a public-read bucket) reads them.
import { createHash } from 'node:crypto';
import type { Context } from 'hono';
import { errors } from '../errors.js';
import { validateBucket } from '../source/store.js';
import type { Style, StyleStore } from '../styles/store.js';
import { parseStyleContent, type ProcessLimits, validateStyleName } from '../process/image-process.js';
import type { AccessControl } from './access.js';
import type { AppEnv } from './context.js';
import { locateObject } from './object-routes.js';
import { escapeXml } from './oss-errors.js';

export interface StyleRoutesDeps {
  styles: StyleStore;
  access: AccessControl;
  domain: string | undefined;
  /** The PutStyle body limit (STILLFRAME_MAX_BODY_BYTES: object PUTs bypass the app's body limit). */
  maxBodyBytes: number;
  /** Passed to the content parser. */
  limits: ProcessLimits;
}

/** A style sub-resource request: the query names `style` (with or without a value). */
export const isStyleRequest = (url: URL): boolean => url.searchParams.has('style');

const XML_HEADER = '<?xml version="1.0" encoding="UTF-8"?>';

function styleXml(style: Style, indent: string): string[] {
  return [
    `${indent}<Style>`,
    `${indent}  <Name>${escapeXml(style.name)}</Name>`,
    `${indent}  <Content>${escapeXml(style.content)}</Content>`,
    `${indent}  <Category>image</Category>`,
    `${indent}  <CreateTime>${style.createTime.toUTCString()}</CreateTime>`,
    `${indent}  <LastModifyTime>${style.lastModifyTime.toUTCString()}</LastModifyTime>`,
    `${indent}</Style>`,
  ];
}

export const getStyleBody = (style: Style): string => [XML_HEADER, ...styleXml(style, ''), ''].join('\n');

export const listStyleBody = (styles: Style[]): string =>
  [XML_HEADER, '<StyleList>', ...styles.flatMap((s) => styleXml(s, '  ')), '</StyleList>', ''].join('\n');

const XML_ENTITIES: Record<string, string> = { lt: '<', gt: '>', amp: '&', quot: '"', apos: "'" };

/** Element text: the five entities and numeric references decoded; a stray `&`, a bad reference or a control character → 400. */
function xmlText(raw: string): string {
  // biome-ignore lint/suspicious/noControlCharactersInRegex: refusing the control characters XML forbids is the point
  if (/[\u0000-\u0008\u000B\u000C\u000E-\u001F]/.test(raw)) throw errors.malformedXml('Content holds a character XML does not allow.');
  return raw.replace(/&([^;]*);?/g, (whole, ref: string) => {
    if (!whole.endsWith(';')) throw errors.malformedXml('an "&" that is not an entity reference.');
    if (Object.hasOwn(XML_ENTITIES, ref)) return XML_ENTITIES[ref]!;
    const num = /^#(?:x([0-9a-fA-F]{1,6})|([0-9]{1,7}))$/.exec(ref);
    const code = num ? Number.parseInt(num[1] ?? num[2]!, num[1] ? 16 : 10) : Number.NaN;
    if (!Number.isInteger(code) || code > 0x10ffff || (code >= 0xd800 && code <= 0xdfff) || code === 0) {
      throw errors.malformedXml(`the reference "&${ref};" is not valid.`);
    }
    return String.fromCodePoint(code);
  });
}

// `<?xml …?>`, then `<Style>` holding exactly one `<Content>`, whitespace between; nothing else.
const PUT_STYLE = /^\uFEFF?(?:<\?xml\s[^?]*\?>)?\s*<Style>\s*<Content>([^<]*)<\/Content>\s*<\/Style>\s*$/;

/** The PutStyle body → its Content text (not yet validated as a process string). */
export function parsePutStyleBody(xml: string): string {
  const m = PUT_STYLE.exec(xml);
  if (!m) throw errors.malformedXml('expected <Style><Content>image/…</Content></Style>.');
  const content = xmlText(m[1]!).trim();
  if (!content) throw errors.malformedXml('the Content element is empty.');
  return content;
}

/** The whole body, refused (413) past `max` bytes whatever Content-Length said. */
async function readBody(request: Request, max: number): Promise<Buffer> {
  const length = request.headers.get('content-length');
  if (length !== null && /^\d+$/.test(length.trim()) && Number(length) > max) throw errors.bodyTooLarge(max);
  if (!request.body) return Buffer.alloc(0);
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of request.body as AsyncIterable<Uint8Array>) {
    size += chunk.byteLength;
    if (size > max) throw errors.bodyTooLarge(max);
    chunks.push(Buffer.from(chunk));
  }
  return Buffer.concat(chunks);
}

/**
 * Answers a bucket-level `?style` request, or returns undefined when the URL names an object (that is the
 * object routes' business).
 */
export function createStyleHandler(deps: StyleRoutesDeps) {
  const xmlHeaders = { 'Content-Type': 'application/xml' };
  return async (c: Context<AppEnv>): Promise<Response | undefined> => {
    const url = c.get('url');
    const { bucket, key } = locateObject(deps.domain ? (c.req.header('host') ?? '') : '', url.pathname, deps.domain);
    if (key !== '') return undefined;
    validateBucket(bucket);
    const names = url.searchParams.getAll('styleName');
    if (names.length > 1) throw errors.invalidArgument('The parameter styleName appears more than once.');
    const name = names[0];
    const method = c.req.method;
    const needName = () => {
      if (name === undefined) throw errors.invalidArgument('The parameter styleName is required.');
      validateStyleName(name);
      return name;
    };

    if (method === 'PUT') {
      // Before the body is read: an unsigned request costs no parsing.
      deps.access.authorizeObject(() => c.req.raw, url, bucket, '', 'write');
      const styleName = needName();
      const body = await readBody(c.req.raw, deps.maxBodyBytes);
      const md5 = c.req.header('content-md5');
      if (md5 !== undefined && createHash('md5').update(body).digest('base64') !== md5) throw errors.invalidDigest();
      const content = parsePutStyleBody(body.toString('utf8'));
      parseStyleContent(content, deps.limits);
      await deps.styles.put(bucket, styleName, content);
      return c.body(null, 200);
    }
    if (method === 'GET' || method === 'HEAD') {
      deps.access.authorizeObject(() => c.req.raw, url, bucket, '', 'read');
      let text: string;
      if (name === undefined) {
        text = listStyleBody(await deps.styles.list(bucket));
      } else {
        const style = await deps.styles.get(bucket, needName());
        if (!style) throw errors.noSuchStyle(name);
        text = getStyleBody(style);
      }
      return method === 'HEAD' ? c.body(null, 200, { ...xmlHeaders, 'Content-Length': String(Buffer.byteLength(text)) }) : c.body(text, 200, xmlHeaders);
    }
    if (method === 'DELETE') {
      deps.access.authorizeObject(() => c.req.raw, url, bucket, '', 'write');
      await deps.styles.delete(bucket, needName());
      return c.body(null, 204);
    }
    throw errors.methodNotAllowed(method);
  };
}
