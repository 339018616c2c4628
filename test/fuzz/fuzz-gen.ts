// Seeded generators of hostile x-oss-process strings, object URLs and IMM requests, shared by the quick
// fuzz test (test/fuzz/fuzz.test.ts) and the long run (npm run test:stress).

/** mulberry32: small, fast, reproducible. */
export function prng(seed: number) {
  let a = seed >>> 0;
  const next = () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const int = (n: number) => Math.floor(next() * n);
  const pick = <T>(items: readonly T[]): T => items[int(items.length)]!;
  return { next, int, pick, chance: (p: number) => next() < p };
}
export type Rng = ReturnType<typeof prng>;

const NAMES = ['t', 'w', 'h', 'm', 'f', 'ar', 'T', 'W', 'x', '', 'tt', 't ', ' t', 's', 'q', 'ar_', 'f_'];
const VALUES = [
  '0', '1', '7000', '1000', '99999999999', '10000000000', '10000000001', '-1', '1.5', '1e3', '0x10', '00001', ' 1', '1 ',
  'fast', 'FAST', 'jpg', 'png', 'webp', 'avif', 'gif', 'JPG', 'auto', 'w', 'h', '', '_', ',', '%', '%00', '\u0000',
  '４', '٣', '𝟙', 'é', '\u202e', '9'.repeat(40), 'NaN', 'Infinity', 'null', 'undefined', '__proto__', 'constructor',
  '64', '320', '4096', '4097', '16384',
];
const ACTIONS = ['video/snapshot', 'video/snapshot', 'video/snapshot', 'image/resize', 'video/snapshots', 'VIDEO/SNAPSHOT', 'video', '', 'video/snapshot/', '/video/snapshot', 'video%2Fsnapshot'];
const SEPARATORS = [',', ',', ',', ',,', ';', '/', '|', ' ', '%2C', '\t'];
const JUNK = ['\u0000', '\r\n', '%', '%%', '%zz', '%ff', '\\', '..', '&', '=', '#', '?', '"', "'", '<', '>', '{', '}', '\uffff', '\ud800', '😀'];

/** A valid-looking process string. */
export function validProcess(rng: Rng): string {
  const params = [`t_${rng.int(5000)}`];
  if (rng.chance(0.7)) params.push(`w_${rng.pick([0, 16, 64, 100, 160, 320])}`);
  if (rng.chance(0.4)) params.push(`h_${rng.pick([0, 16, 48, 90, 120])}`);
  if (rng.chance(0.3)) params.push('m_fast');
  if (rng.chance(0.6)) params.push(`f_${rng.pick(['jpg', 'png', 'webp'])}`);
  if (rng.chance(0.3)) params.push(`ar_${rng.pick(['auto', 'w', 'h'])}`);
  for (let i = params.length - 1; i > 0; i--) {
    const j = rng.int(i + 1);
    [params[i], params[j]] = [params[j]!, params[i]!];
  }
  return ['video/snapshot', ...params].join(',');
}

/** A generated or mutated process string. */
export function fuzzProcess(rng: Rng): string {
  const kind = rng.int(6);
  if (kind === 0) return validProcess(rng);
  if (kind === 1) {
    // Random pairs.
    const n = rng.int(8);
    const pairs = Array.from({ length: n }, () => `${rng.pick(NAMES)}${rng.chance(0.9) ? '_' : ''}${rng.pick(VALUES)}`);
    return [rng.pick(ACTIONS), ...pairs].join(rng.pick(SEPARATORS));
  }
  if (kind === 2) {
    // Random bytes / code points.
    const len = rng.int(rng.chance(0.1) ? 600 : 40);
    return Array.from({ length: len }, () => String.fromCharCode(rng.chance(0.8) ? 32 + rng.int(95) : rng.int(0x10000))).join('');
  }
  // Mutations of a valid string: insert, delete, replace, duplicate, percent-encode.
  let s = validProcess(rng);
  const steps = 1 + rng.int(4);
  for (let i = 0; i < steps; i++) {
    const at = rng.int(s.length + 1);
    switch (rng.int(6)) {
      case 0:
        s = s.slice(0, at) + rng.pick(JUNK) + s.slice(at);
        break;
      case 1:
        s = s.slice(0, at) + s.slice(at + 1 + rng.int(3));
        break;
      case 2:
        s = s.slice(0, at) + rng.pick(VALUES) + s.slice(at + 1);
        break;
      case 3:
        s = `${s},${s.split(',').slice(1).join(',')}`;
        break;
      case 4:
        s = s.slice(0, at) + encodeAny(s.slice(at));
        break;
      default:
        s = s.toUpperCase();
    }
  }
  return s;
}

const b64 = (text: string) => Buffer.from(text).toString('base64url');

/** One image action with valid-looking parameters (some at or past their range's edges). */
function imageAction(rng: Rng): string {
  const n = (values: readonly number[]) => rng.pick(values);
  switch (rng.int(14)) {
    case 0:
      return `resize,m_${rng.pick(['lfit', 'mfit', 'fill', 'pad', 'fixed'])},w_${n([1, 16, 64, 200, 800])},h_${n([1, 16, 64, 150])}${rng.chance(0.3) ? `,limit_${rng.int(2)}` : ''}`;
    case 1:
      return rng.chance(0.5) ? `resize,p_${n([1, 50, 100, 200, 1000])}` : `resize,l_${n([16, 64, 300])}`;
    case 2:
      return `crop,x_${n([0, 5, 50, 5000])},y_${n([0, 5, 40])},w_${n([0, 10, 100])},h_${n([0, 10, 60])},g_${rng.pick(['nw', 'center', 'se', 'south'])}`;
    case 3:
      return `indexcrop,${rng.pick(['x', 'y'])}_${n([1, 10, 50])},i_${n([0, 1, 99])}`;
    case 4:
      return `circle,r_${n([1, 10, 100, 4096])}`;
    case 5:
      return `rounded-corners,r_${n([1, 10, 4096])}`;
    case 6:
      return `rotate,${n([0, 45, 90, 180, 359, 360])}`;
    case 7:
      return `blur,r_${n([1, 5, 50])},s_${n([1, 5, 50])}`;
    case 8:
      return rng.pick([`bright,${n([-100, 0, 50, 100])}`, `contrast,${n([-100, -50, 100])}`, `sharpen,${n([50, 100, 399])}`]);
    case 9:
      return `quality,${rng.pick(['q', 'Q'])}_${n([1, 50, 100])}`;
    case 10:
      return `format,${rng.pick(['jpg', 'png', 'webp', 'gif', 'bmp', 'tiff', 'avif', 'heic'])}`;
    case 11:
      return `watermark,text_${b64(rng.pick(['hi', 'stillframe', '©2026', 'x'.repeat(64)]))},size_${n([1, 12, 40])},g_${rng.pick(['se', 'nw', 'center'])}${rng.chance(0.3) ? ',fill_1' : ''}`;
    case 12:
      return `interlace,${rng.int(2)}`;
    default:
      return `auto-orient,${rng.int(2)}`;
  }
}

/** A valid-looking `image/…` chain of one to four actions. */
export function validImageProcess(rng: Rng): string {
  return `image/${Array.from({ length: 1 + rng.int(4) }, () => imageAction(rng)).join('/')}`;
}

/** A generated or mutated `image/…` process string (most are refused by the parser, some run). */
export function fuzzImageProcess(rng: Rng): string {
  let s = rng.chance(0.5) ? validImageProcess(rng) : `video/snapshot,t_${rng.int(3000)}|${validImageProcess(rng)}`;
  const steps = rng.int(4);
  for (let i = 0; i < steps; i++) {
    const at = rng.int(s.length + 1);
    switch (rng.int(5)) {
      case 0:
        s = s.slice(0, at) + rng.pick([...JUNK, '/', '|', ',', '_', 'style/', 'sys/saveas,o_eA']) + s.slice(at);
        break;
      case 1:
        s = s.slice(0, at) + s.slice(at + 1 + rng.int(3));
        break;
      case 2:
        s = s.slice(0, at) + rng.pick(VALUES) + s.slice(at + 1);
        break;
      case 3:
        s = `${s}/${s.replace(/^image\//, '')}`;
        break;
      default:
        s = s.toUpperCase();
    }
  }
  return s;
}

/** encodeURIComponent that also takes lone surrogates (as their UTF-8 replacement bytes). */
export const encodeAny = (s: string) => [...Buffer.from(s, 'utf8')].map((b) => (/[A-Za-z0-9\-_.~]/.test(String.fromCharCode(b)) ? String.fromCharCode(b) : `%${b.toString(16).toUpperCase().padStart(2, '0')}`)).join('');

const KEYS = ['v.mp4', 'missing.mp4', '../v.mp4', '%2e%2e/v.mp4', 'a%2fb', 'a\\b', 'a%00b', '%2e%2e%2fetc%2fpasswd', '..%5cv.mp4', 'x'.repeat(1100), '.', '..', '%', '%zz', 'd/./v.mp4', 'd//v.mp4', '%c0%ae%c0%ae/v.mp4', 'v.mp4%00.jpg'];

/** A path and query for the object routes: process strings, duplicates, raw junk. */
export function fuzzObjectUrl(rng: Rng, bucket: string): string {
  const key = rng.chance(0.8) ? 'missing.mp4' : rng.pick(KEYS);
  const b = rng.chance(0.95) ? bucket : rng.pick(['_', 'A', 'ab', '..', '%2e%2e', 'x'.repeat(70), 'b-', '']);
  const process = fuzzProcess(rng);
  const parts = [`x-oss-process=${rng.chance(0.8) ? encodeAny(process) : process.replace(/[#&\s]/g, '')}`];
  if (rng.chance(0.05)) parts.push(`x-oss-process=${encodeAny(validProcess(rng))}`);
  if (rng.chance(0.05)) parts.push(rng.pick(['OSSAccessKeyId=x', 'Signature=y', 'Expires=1', 'x-oss-signature-version=OSS4-HMAC-SHA256', 'a=%zz', '=', '&&', `q=${'x'.repeat(5000)}`]));
  if (rng.chance(0.02)) parts.length = 0;
  return `/${b}/${key}?${parts.join('&')}`;
}

const URIS = ['oss://fz-bucket/missing.mp4', 'oss://nob/x.mp4', 'oss://fz-bucket/', 'oss://', 'http://127.0.0.1/x', 'file:///etc/passwd', 'oss://fz-bucket/../v.mp4', 'oss://B/x', 'oss://fz-bucket/%00', 'oss://fz-bucket/{index}', 42, null, {}, [], ''];
const OUT_URIS = ['oss://fz-bucket/out/{index}.{autoext}', 'oss://fz-bucket/out.jpg', 'oss://fz-bucket/{bogus}.jpg', 'oss://fz-bucket/{{index}}', 'oss://nob/x-{index}.jpg', 'oss://fz-bucket/{tags.x}/{index}.jpg', 'oss://{bucket}/{barename}-{index}.jpg', 'oss://fz-bucket/{index', 'oss://fz-bucket/x\u0000{index}.jpg', '', 7];

function fuzzValue(rng: Rng, depth = 0): unknown {
  switch (rng.int(depth > 2 ? 6 : 8)) {
    case 0:
      return rng.pick(VALUES);
    case 1:
      return rng.pick([0, -1, 1, 0.5, 1e308, -1e308, 2 ** 53, 4096, 4097, 0.0001, 43200 * 10]);
    case 2:
      return rng.pick([true, false, null]);
    case 3:
      return rng.pick(URIS);
    case 4:
      return 'x'.repeat(rng.pick([0, 1, 100, 3000]));
    case 5:
      return rng.pick(JUNK);
    case 6:
      return Array.from({ length: rng.int(4) }, () => fuzzValue(rng, depth + 1));
    default:
      return Object.fromEntries(Array.from({ length: rng.int(4) }, () => [rng.pick(['URI', 'Format', 'Mode', 'Number', 'x', '__proto__', 'constructor']), fuzzValue(rng, depth + 1)]));
  }
}

function snapshotSpec(rng: Rng): Record<string, unknown> {
  const spec: Record<string, unknown> = { Format: rng.pick(['jpg', 'png', 'webp', 'gif', 'JPG', '']), URI: rng.pick(OUT_URIS) };
  for (const [name, values] of [
    ['StartTime', [0, 1, -1, 1e9, '1', 0.5]],
    ['Interval', [1, 0, -1, 0.001, 1e9, 'x']],
    ['Number', [1, 0, 5, 1e6, -2, 2.5]],
    ['Mode', ['interval', 'average', 'keyframe', 'dhash', 'fast', 1]],
    ['Threshold', [15, 0, 101, -1]],
    ['Width', [64, 0, 0.5, 1, 4096, 4097, 1e9, -5]],
    ['Height', [64, 0, 0.25, 1.5, 10000]],
    ['ScaleType', ['crop', 'fill', 'fit', 'stretch', 'zoom']],
  ] as const) {
    if (rng.chance(0.3)) spec[name] = rng.pick(values as readonly unknown[]);
  }
  if (rng.chance(0.1)) spec[rng.pick(['URI', 'Format', 'Bogus'])] = fuzzValue(rng);
  return spec;
}

/** An IMM request: action, parameters, and how to send them. */
export function fuzzImmRequest(rng: Rng, realSource: string): { body: string; contentType: string; query: string } {
  const action = rng.pick(['CreateMediaConvertTask', 'CreateMediaConvertTask', 'CreateMediaConvertTask', 'GetTask', 'ListTasks', 'CreateProject', 'GetProject', 'ListProjects', 'DeleteProject', 'Bogus', '', 'constructor', '__proto__', 'toString', 'hasOwnProperty']);
  const params: Record<string, unknown> = { ProjectName: rng.pick(['fuzz', 'fuzz', 'nope', '', 'x'.repeat(200), '../x', 42, null]) };
  if (action === 'CreateMediaConvertTask' || rng.chance(0.1)) {
    const source = rng.chance(0.003) ? realSource : rng.pick(URIS);
    params.Sources = rng.chance(0.85) ? [{ URI: source, ...(rng.chance(0.2) && { StartTime: rng.pick([0, 1, -1, 1e9]), Duration: rng.pick([0, 1, -1]) }) }] : fuzzValue(rng);
    params.Targets = rng.chance(0.85) ? [{ Image: { Snapshots: Array.from({ length: 1 + rng.int(rng.chance(0.05) ? 15 : 2) }, () => snapshotSpec(rng)) } }] : fuzzValue(rng);
    if (rng.chance(0.2)) params.Notification = rng.pick([{ MNS: { TopicName: 'unconfigured-topic' } }, { MNS: { TopicName: 'http://evil.example/' } }, { RocketMQ: {} }, 'x', 5]);
    if (rng.chance(0.2)) params.Tags = rng.pick([{ a: 'b' }, { ['x'.repeat(200)]: 1 }, 'a=b', [], null]);
    if (rng.chance(0.1)) params.UserData = 'u'.repeat(rng.pick([10, 3000]));
    if (rng.chance(0.1)) params.Container = 'mp4';
  }
  if (action === 'GetTask' || action === 'ListTasks' || rng.chance(0.05)) {
    params.TaskId = rng.pick(['MediaConvert-nope', '', 'x', 1, '../../etc']);
    params.TaskType = rng.pick(['MediaConvert', 'Other', '']);
    params.MaxResults = rng.pick([1, 0, 100, 101, -1, 'x', 1e20]);
    params.NextToken = rng.pick(['', 'x', 'bzox', Buffer.from('o:99999999999999999999').toString('base64url')]);
    params.Sort = rng.pick(['CreateTime', 'Bogus']);
    params.Order = rng.pick(['asc', 'desc', 'up']);
    params.TagSelector = rng.pick(['a=b', '=', 'a=b,c', '']);
    params.Status = rng.pick(['Running', 'Succeeded', 'Nope']);
    params.RequestDefinition = rng.pick([true, 'true', 'x']);
  }
  if (rng.chance(0.05)) params.Version = rng.pick(['2020-09-30', '2017-09-06', '']);
  if (rng.chance(0.05)) params[rng.pick(['__proto__', 'constructor', 'Action'])] = fuzzValue(rng);
  const query = rng.chance(0.9) ? `?Action=${encodeAny(action)}` : rng.pick(['', '?Action=', '?Action=GetTask&Action=ListTasks', '?%zz']);
  const style = rng.int(10);
  if (style < 5) {
    // JSON body, sometimes broken.
    let body = JSON.stringify(params);
    if (rng.chance(0.1)) body = body.slice(0, rng.int(body.length));
    if (rng.chance(0.02)) body = '['.repeat(20000) + ']'.repeat(20000);
    if (rng.chance(0.02)) body = rng.pick(['null', '"x"', '1', '[]', '', '{"__proto__":{"x":1}}']);
    return { body, contentType: 'application/json', query };
  }
  if (style < 9) {
    const form = new URLSearchParams();
    for (const [k, v] of Object.entries(params)) form.set(k, typeof v === 'object' && v !== null ? JSON.stringify(v) : String(v));
    let body = form.toString();
    if (rng.chance(0.1)) body += rng.pick(['&%zz', '&=', '&&&', `&Sources=${'['.repeat(5000)}`, '&ProjectName=dup']);
    return { body, contentType: 'application/x-www-form-urlencoded', query };
  }
  return { body: rng.pick(['', 'garbage', '\u0000\u0001', 'a=b']), contentType: rng.pick(['text/plain', 'multipart/form-data', '', 'application/json; charset=utf-8']), query };
}
