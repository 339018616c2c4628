// HEIF (ISO/IEC 23008-12) container boxes, pure: items and properties in, file bytes out, and back.
//
// The writer makes the smallest file libheif, FFmpeg's mov demuxer and Apple's readers take: ftyp
// (`heic`, compatible `mif1 heic`), meta (hdlr `pict`, pitm, iloc v1, iinf/infe v2, iref, iprp: ipco +
// ipma, idat), mdat. The parser reads the same boxes from any HEIF (iPhone photos included) — what the
// still-image decoder needs to find the primary item, a grid's tiles and layout, and the transformative
// properties (clap, irot, imir), without trusting a single length it reads.

// ---------------------------------------------------------------------------------------------
// Writer

const u8 = (v: number) => Buffer.from([v & 0xff]);
const u16 = (v: number) => {
  const b = Buffer.alloc(2);
  b.writeUInt16BE(v);
  return b;
};
const u32 = (v: number) => {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(v >>> 0);
  return b;
};
const i32 = (v: number) => {
  const b = Buffer.alloc(4);
  b.writeInt32BE(v);
  return b;
};
const fourcc = (s: string) => Buffer.from(s, 'latin1');

/** A box: 32-bit size, type, payload. */
export function box(type: string, ...payload: Buffer[]): Buffer {
  const body = Buffer.concat(payload);
  return Buffer.concat([u32(8 + body.length), fourcc(type), body]);
}

/** A full box: a box whose payload starts with version (8 bits) and flags (24 bits). */
export function fullBox(type: string, version: number, flags: number, ...payload: Buffer[]): Buffer {
  return box(type, u32(((version & 0xff) << 24) | (flags & 0xffffff)), ...payload);
}

/** `ispe`: the item's width and height in pixels (before any transform). */
export const ispeBox = (width: number, height: number) => fullBox('ispe', 0, 0, u32(width), u32(height));
/** `irot`: anti-clockwise rotation in quarter turns (0–3). */
export const irotBox = (quarterTurns: number) => box('irot', u8(quarterTurns & 3));
/** `imir`: 0 mirrors about a vertical axis (left ↔ right), 1 about a horizontal axis (top ↔ bottom). */
export const imirBox = (axis: 0 | 1) => box('imir', u8(axis));
/** `pixi`: bits per channel. */
export const pixiBox = (bits: readonly number[]) => fullBox('pixi', 0, 0, u8(bits.length), ...bits.map(u8));
/** `colr` nclx: CICP colour description (H.273 codes) and the full-range flag. */
export const colrNclxBox = (primaries: number, transfer: number, matrix: number, fullRange: boolean) =>
  box('colr', fourcc('nclx'), u16(primaries), u16(transfer), u16(matrix), u8(fullRange ? 0x80 : 0));
/** `hvcC`: an HEVCDecoderConfigurationRecord as the payload. */
export const hvcCBox = (record: Buffer) => box('hvcC', record);
/** `clap`: a clean aperture of `width`×`height` at the top-left of an item of `fullWidth`×`fullHeight`. */
export function clapBox(width: number, height: number, fullWidth: number, fullHeight: number): Buffer {
  // Offsets are from the centre of the item to the centre of the aperture, as fractions over 2.
  return box('clap', u32(width), u32(1), u32(height), u32(1), i32(width - fullWidth), u32(2), i32(height - fullHeight), u32(2));
}

/** The payload of a `grid` item (ImageGrid): rows × columns of tiles, cropped to width × height. */
export function gridDescriptor(rows: number, columns: number, width: number, height: number): Buffer {
  const large = width > 0xffff || height > 0xffff;
  const size = large ? u32 : u16;
  return Buffer.concat([u8(0), u8(large ? 1 : 0), u8(rows - 1), u8(columns - 1), size(width), size(height)]);
}

export interface HeifItemSpec {
  id: number;
  /** `hvc1`, `grid`, `Exif`, … */
  type: string;
  data: Buffer;
  /** Property boxes (made with the helpers above); identical boxes are stored once. */
  properties?: readonly { box: Buffer; essential?: boolean }[];
  /** Not to be shown on its own (grid tiles). */
  hidden?: boolean;
  /** Store the data in `idat` inside meta (grid descriptors) rather than in mdat. */
  inIdat?: boolean;
}

export interface HeifSpec {
  primary: number;
  items: readonly HeifItemSpec[];
  /** Item references, e.g. `{ type: 'dimg', from: gridId, to: tileIds }` (tiles in raster order). */
  references?: readonly { type: string; from: number; to: readonly number[] }[];
  /** ftyp major brand. Default `heic`. */
  brand?: string;
}

/** The bytes of a HEIF file holding the items. */
export function writeHeif(spec: HeifSpec): Buffer {
  const brand = spec.brand ?? 'heic';
  const ftyp = box('ftyp', fourcc(brand), u32(0), fourcc('mif1'), fourcc(brand));
  const properties: Buffer[] = [];
  const associations: Buffer[] = [];
  for (const item of spec.items) {
    const entries: Buffer[] = [];
    for (const p of item.properties ?? []) {
      let index = properties.findIndex((b) => b.equals(p.box));
      if (index < 0) index = properties.push(p.box) - 1;
      if (index >= 127) throw new Error('heif: more than 127 distinct properties');
      entries.push(u8(((p.essential ? 1 : 0) << 7) | (index + 1)));
    }
    if (entries.length) associations.push(Buffer.concat([u16(item.id), u8(entries.length), ...entries]));
  }
  const iprp = box('iprp', box('ipco', ...properties), fullBox('ipma', 0, 0, u32(associations.length), ...associations));
  const infes = spec.items.map((item) =>
    fullBox('infe', 2, item.hidden ? 1 : 0, u16(item.id), u16(0), fourcc(item.type), Buffer.from([0])),
  );
  const iinf = fullBox('iinf', 0, 0, u16(spec.items.length), ...infes);
  const iref = spec.references?.length
    ? [fullBox('iref', 0, 0, ...spec.references.map((r) => box(r.type, u16(r.from), u16(r.to.length), ...r.to.map(u16))))]
    : [];
  const idatItems = spec.items.filter((i) => i.inIdat);
  const idat = idatItems.length ? [box('idat', ...idatItems.map((i) => i.data))] : [];
  const mdatItems = spec.items.filter((i) => !i.inIdat);

  // iloc v1: 4-byte offsets and lengths, no base offset, construction method 0 (file) or 1 (idat).
  const meta = (mdatStart: number) => {
    let fileAt = mdatStart + 8;
    let idatAt = 0;
    const entries = spec.items.map((item) => {
      const offset = item.inIdat ? idatAt : fileAt;
      if (item.inIdat) idatAt += item.data.length;
      else fileAt += item.data.length;
      return Buffer.concat([u16(item.id), u16(item.inIdat ? 1 : 0), u16(0), u16(1), u32(offset), u32(item.data.length)]);
    });
    const iloc = fullBox('iloc', 1, 0, u8(0x44), u8(0x00), u16(spec.items.length), ...entries);
    const hdlr = fullBox('hdlr', 0, 0, u32(0), fourcc('pict'), u32(0), u32(0), u32(0), Buffer.from([0]));
    return fullBox('meta', 0, 0, hdlr, fullBox('pitm', 0, 0, u16(spec.primary)), iloc, iinf, ...iref, iprp, ...idat);
  };
  const sized = meta(0);
  const final = meta(ftyp.length + sized.length);
  const mdat = box('mdat', ...mdatItems.map((i) => i.data));
  return Buffer.concat([ftyp, final, mdat]);
}

// ---------------------------------------------------------------------------------------------
// Parser

export class HeifError extends Error {
  override name = 'HeifError';
}

export interface RawBox {
  type: string;
  /** Bytes after the box header (a full box's version and flags included). */
  payload: Buffer;
}

export interface HeifItem {
  id: number;
  type: string;
  hidden: boolean;
  /** 0: offsets in the file; 1: in idat. */
  construction: number;
  extents: { offset: number; length: number }[];
  /** Properties in ipma order (transformative ones are applied in this order). */
  properties: { box: RawBox; essential: boolean }[];
}

export interface HeifFile {
  brands: string[];
  primary: number;
  items: Map<number, HeifItem>;
  /** References by type: from → to (in order). */
  references: Map<string, Map<number, number[]>>;
  idat: Buffer | undefined;
}

/** Reads boxes in `buf[start, end)`. Throws HeifError on a box that runs past its parent. */
export function readBoxes(buf: Buffer, start = 0, end = buf.length): RawBox[] {
  const out: RawBox[] = [];
  let at = start;
  while (at + 8 <= end) {
    let size = buf.readUInt32BE(at);
    const type = buf.toString('latin1', at + 4, at + 8);
    let header = 8;
    if (size === 1) {
      if (at + 16 > end) throw new HeifError(`box ${type} truncated`);
      size = Number(buf.readBigUInt64BE(at + 8));
      header = 16;
    } else if (size === 0) {
      size = end - at;
    }
    if (size < header || at + size > end) throw new HeifError(`box ${type} runs past its container`);
    out.push({ type, payload: buf.subarray(at + header, at + size) });
    at += size;
  }
  return out;
}

/** A bounds-checked big-endian reader over one box payload. */
class Reader {
  at = 0;
  constructor(
    private readonly buf: Buffer,
    private readonly what: string,
  ) {}
  private need(n: number): void {
    if (this.at + n > this.buf.length) throw new HeifError(`${this.what} truncated`);
  }
  uint(bytes: number): number {
    if (bytes === 0) return 0;
    this.need(bytes);
    let v = 0;
    for (let i = 0; i < bytes; i++) v = v * 256 + this.buf[this.at + i]!;
    this.at += bytes;
    return v;
  }
  fourcc(): string {
    this.need(4);
    const s = this.buf.toString('latin1', this.at, this.at + 4);
    this.at += 4;
    return s;
  }
  rest(): Buffer {
    return this.buf.subarray(this.at);
  }
}

const child = (boxes: RawBox[], type: string) => boxes.find((b) => b.type === type);

/** The structure of a HEIF file's meta box. Throws HeifError when it is not one or is malformed. */
export function parseHeif(buf: Buffer): HeifFile {
  const top = readBoxes(buf);
  const ftyp = child(top, 'ftyp');
  if (!ftyp || ftyp.payload.length < 8) throw new HeifError('no ftyp box');
  const brands = [ftyp.payload.toString('latin1', 0, 4)];
  for (let at = 8; at + 4 <= ftyp.payload.length; at += 4) brands.push(ftyp.payload.toString('latin1', at, at + 4));
  const metaBox = child(top, 'meta');
  if (!metaBox || metaBox.payload.length < 4) throw new HeifError('no meta box');
  const meta = readBoxes(metaBox.payload, 4);

  const pitm = child(meta, 'pitm');
  if (!pitm) throw new HeifError('no pitm box');
  const pr = new Reader(pitm.payload, 'pitm');
  const pitmVersion = pr.uint(1);
  pr.uint(3);
  const primary = pr.uint(pitmVersion === 0 ? 2 : 4);

  const items = new Map<number, HeifItem>();
  const iinf = child(meta, 'iinf');
  if (!iinf) throw new HeifError('no iinf box');
  const ir = new Reader(iinf.payload, 'iinf');
  const iinfVersion = ir.uint(1);
  ir.uint(3);
  ir.uint(iinfVersion === 0 ? 2 : 4);
  for (const infe of readBoxes(iinf.payload, ir.at)) {
    if (infe.type !== 'infe') continue;
    const r = new Reader(infe.payload, 'infe');
    const version = r.uint(1);
    const flags = r.uint(3);
    if (version < 2) continue;
    const id = r.uint(version === 2 ? 2 : 4);
    r.uint(2);
    const type = r.fourcc();
    items.set(id, { id, type, hidden: (flags & 1) !== 0, construction: 0, extents: [], properties: [] });
  }

  const iloc = child(meta, 'iloc');
  if (!iloc) throw new HeifError('no iloc box');
  const lr = new Reader(iloc.payload, 'iloc');
  const ilocVersion = lr.uint(1);
  lr.uint(3);
  const sizes = lr.uint(1);
  const more = lr.uint(1);
  const [offsetSize, lengthSize, baseSize] = [sizes >> 4, sizes & 15, more >> 4];
  const indexSize = ilocVersion >= 1 ? more & 15 : 0;
  const count = lr.uint(ilocVersion < 2 ? 2 : 4);
  for (let i = 0; i < count; i++) {
    const id = lr.uint(ilocVersion < 2 ? 2 : 4);
    const construction = ilocVersion >= 1 ? lr.uint(2) & 15 : 0;
    lr.uint(2);
    const base = lr.uint(baseSize);
    const extentCount = lr.uint(2);
    const extents: { offset: number; length: number }[] = [];
    for (let e = 0; e < extentCount; e++) {
      lr.uint(indexSize);
      extents.push({ offset: base + lr.uint(offsetSize), length: lr.uint(lengthSize) });
    }
    const item = items.get(id);
    if (item) {
      item.construction = construction;
      item.extents = extents;
    }
  }

  const references = new Map<string, Map<number, number[]>>();
  const iref = child(meta, 'iref');
  if (iref) {
    const version = iref.payload[0] ?? 0;
    const idSize = version === 0 ? 2 : 4;
    for (const ref of readBoxes(iref.payload, 4)) {
      const r = new Reader(ref.payload, `iref ${ref.type}`);
      const from = r.uint(idSize);
      const n = r.uint(2);
      const to: number[] = [];
      for (let i = 0; i < n; i++) to.push(r.uint(idSize));
      if (!references.has(ref.type)) references.set(ref.type, new Map());
      references.get(ref.type)!.set(from, to);
    }
  }

  const iprp = child(meta, 'iprp');
  if (iprp) {
    const parts = readBoxes(iprp.payload);
    const ipco = child(parts, 'ipco');
    const properties = ipco ? readBoxes(ipco.payload) : [];
    for (const ipma of parts.filter((b) => b.type === 'ipma')) {
      const r = new Reader(ipma.payload, 'ipma');
      const version = r.uint(1);
      const flags = r.uint(3);
      const entries = r.uint(4);
      for (let i = 0; i < entries; i++) {
        const id = r.uint(version < 1 ? 2 : 4);
        const n = r.uint(1);
        for (let j = 0; j < n; j++) {
          const v = r.uint(flags & 1 ? 2 : 1);
          const high = flags & 1 ? 0x8000 : 0x80;
          const index = v & (high - 1);
          const prop = index > 0 ? properties[index - 1] : undefined;
          if (index > 0 && !prop) throw new HeifError(`ipma names property ${index} of ${properties.length}`);
          if (prop) items.get(id)?.properties.push({ box: prop, essential: (v & high) !== 0 });
        }
      }
    }
  }
  return { brands, primary, items, references, idat: child(meta, 'idat')?.payload };
}

/** The bytes of an item (its extents joined). Throws HeifError when they lie outside the file. */
export function itemData(file: HeifFile, buf: Buffer, item: HeifItem, limit = Number.MAX_SAFE_INTEGER): Buffer {
  const source = item.construction === 0 ? buf : item.construction === 1 ? file.idat : undefined;
  if (!source) throw new HeifError(`item ${item.id}: construction method ${item.construction} is not supported`);
  let total = 0;
  const parts = item.extents.map(({ offset, length }) => {
    // length 0: to the end of the source (single extent).
    const len = length === 0 ? source.length - offset : length;
    if (offset < 0 || len < 0 || offset + len > source.length) throw new HeifError(`item ${item.id} data lies outside the file`);
    total += len;
    if (total > limit) throw new HeifError(`item ${item.id} is larger than ${limit} bytes`);
    return source.subarray(offset, offset + len);
  });
  return parts.length === 1 ? parts[0]! : Buffer.concat(parts);
}

/** The item's first property of a type (its payload), if any. */
export function itemProperty(item: HeifItem, type: string): Buffer | undefined {
  return item.properties.find((p) => p.box.type === type)?.box.payload;
}

/** `ispe` of an item: its width and height. */
export function itemSize(item: HeifItem): { width: number; height: number } | undefined {
  const p = itemProperty(item, 'ispe');
  if (!p || p.length < 12) return undefined;
  return { width: p.readUInt32BE(4), height: p.readUInt32BE(8) };
}

export interface Grid {
  rows: number;
  columns: number;
  width: number;
  height: number;
}

/** An ImageGrid descriptor (a `grid` item's data). */
export function parseGrid(data: Buffer): Grid {
  const r = new Reader(data, 'grid');
  r.uint(1);
  const flags = r.uint(1);
  const rows = r.uint(1) + 1;
  const columns = r.uint(1) + 1;
  const size = flags & 1 ? 4 : 2;
  return { rows, columns, width: r.uint(size), height: r.uint(size) };
}

/** A transformative property, decoded. */
export type Transform =
  | { kind: 'clap'; width: number; height: number; horizontalOffset: number; verticalOffset: number }
  | { kind: 'irot'; quarterTurns: number }
  | { kind: 'imir'; axis: 0 | 1 };

/** The item's transformative properties in the order they are to be applied. */
export function itemTransforms(item: HeifItem): Transform[] {
  const out: Transform[] = [];
  for (const { box: p } of item.properties) {
    if (p.type === 'irot' && p.payload.length >= 1) out.push({ kind: 'irot', quarterTurns: p.payload[0]! & 3 });
    else if (p.type === 'imir' && p.payload.length >= 1) out.push({ kind: 'imir', axis: (p.payload[0]! & 1) as 0 | 1 });
    else if (p.type === 'clap' && p.payload.length >= 32) {
      const f = (i: number, signed: boolean) => {
        const n = signed ? p.payload.readInt32BE(i) : p.payload.readUInt32BE(i);
        const d = p.payload.readUInt32BE(i + 4);
        if (!d) throw new HeifError('clap with a zero denominator');
        return n / d;
      };
      out.push({ kind: 'clap', width: f(0, false), height: f(8, false), horizontalOffset: f(16, true), verticalOffset: f(24, true) });
    }
  }
  return out;
}

/** The `colr` nclx colour description of an item, if it has one. */
export function itemNclx(item: HeifItem): { primaries: number; transfer: number; matrix: number; fullRange: boolean } | undefined {
  for (const { box: p } of item.properties) {
    if (p.type !== 'colr' || p.payload.length < 11 || p.payload.toString('latin1', 0, 4) !== 'nclx') continue;
    return { primaries: p.payload.readUInt16BE(4), transfer: p.payload.readUInt16BE(6), matrix: p.payload.readUInt16BE(8), fullRange: (p.payload[10]! & 0x80) !== 0 };
  }
  return undefined;
}
