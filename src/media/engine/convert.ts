// Decoded frame → packed pixels at the output size, in one libavfilter pass from the decoder's YUV: the
// picture is scaled straight to the size the renderer needs (anamorphic pixels squared and the
// requested resize included), so a 4K frame captured at 320 px never exists as 4K RGB.
//
// Colour: SDR BT.601/709 goes through swscale with the matrix and range the frame declares (an HD frame
// that declares none is read as BT.709, as players do; FFmpeg's own default is BT.601). PQ (HDR10,
// HDR10+, Dolby Vision with an HDR10 base layer) and HLG are tone-mapped to BT.709 SDR, and BT.2020
// SDR has its primaries converted, with zimg (zscale) and FFmpeg's tonemap filter: linear light is
// normalised so that 1.0 is SDR reference white, 203 cd/m² (ITU-R BT.2408) — content inside the SDR
// range keeps its level — and highlights above it are compressed by the chosen curve (mobius by default:
// linear up to a knee, then a smooth roll-off to the stream's peak), without desaturation.
import {
  AV_BUFFERSRC_FLAG_KEEP_REF,
  AV_PIX_FMT_GRAY8,
  AV_PIX_FMT_RGB24,
  AVCOL_SPC_UNSPECIFIED,
  Filter,
  FilterGraph,
  FilterInOut,
  Frame,
  type FilterContext,
} from 'node-av';
import { errors } from '../../errors.js';
import type { Transfer } from '../probe.js';
import type { ToneMap } from '../../config.js';
import { describeError } from './errors.js';

export type PixelsOut = { kind: 'rgb'; width: number; height: number } | { kind: 'grey'; width: number; height: number };

export interface ColourSource {
  transfer: Transfer;
  primaries: string;
  /** Peak luminance of HDR content (cd/m²), when the stream's metadata says. */
  peakLuminance: number | undefined;
}

export interface Pixels {
  data: Buffer;
  width: number;
  height: number;
  channels: 1 | 3;
}

/** SDR reference white (ITU-R BT.2408) in cd/m²: linear 1.0 after linearisation. */
export const REFERENCE_WHITE = 203;
// Without metadata: the mastering peak most HDR10 content is graded to, and HLG's nominal display peak.
const DEFAULT_PEAK = 1000;
// mobius: below this share of reference white the curve is linear (unchanged); above it rolls off.
const MOBIUS_KNEE = 0.6;

/** The libavfilter chain from a decoded frame to the wanted pixels. Pure: exported for tests. */
export function conversionChain(frame: { width: number; height: number; colorSpace: number }, colour: ColourSource, out: PixelsOut, toneMap: ToneMap): string {
  const size = `w=${out.width}:h=${out.height}`;
  if (out.kind === 'grey') return `scale=${size}:flags=area,format=gray`;
  const hdr = colour.transfer !== 'sdr' && toneMap !== 'off';
  if (hdr) {
    const peak = Math.max(1, (colour.peakLuminance ?? DEFAULT_PEAK) / REFERENCE_WHITE);
    const curve = toneMap === 'mobius' ? `mobius:param=${MOBIUS_KNEE}` : toneMap;
    return [
      `zscale=${size}:filter=bicubic:t=linear:npl=${REFERENCE_WHITE}`,
      'format=gbrpf32le',
      'zscale=p=bt709',
      `tonemap=${curve}:desat=0:peak=${peak.toFixed(4)}`,
      'zscale=t=bt709:m=bt709:r=full',
      'format=rgb24',
    ].join(',');
  }
  // BT.2020 SDR: primaries converted too. With tone mapping off, HDR is shown as coded (washed out).
  if (colour.primaries === 'bt2020' && colour.transfer === 'sdr') {
    return `zscale=${size}:filter=bicubic:p=bt709:t=bt709:m=bt709:r=full,format=rgb24`;
  }
  // HD without a declared matrix: BT.709, as players assume.
  const matrix = frame.colorSpace === AVCOL_SPC_UNSPECIFIED && (frame.width >= 1280 || frame.height >= 720) ? ':in_color_matrix=bt709' : '';
  // Plain bicubic: accurate_rnd (or full_chroma_int when scaling) leave swscale's SIMD paths — 20× slower at 720p.
  return `scale=${size}:flags=bicubic${matrix},format=rgb24`;
}

/** The input a filter chain is configured for: a frame's shape and colour description. */
export interface FilterInput {
  width: number;
  height: number;
  format: number;
  colorSpace: number;
  colorRange: number;
}

/**
 * A configured libavfilter graph for one input shape and one chain (`scale=…,format=rgb24`): frames in,
 * frames out. Used for video frames (below) and for still images (src/media/engine/still-image.ts).
 */
export class FilterChain {
  private readonly graph = new FilterGraph();
  private readonly source: FilterContext;
  private readonly sink: FilterContext;
  /** The last output; valid until the next run() (which unrefs it). */
  readonly out = new Frame();

  constructor(input: FilterInput, chain: string) {
    this.graph.alloc();
    const args = [
      `video_size=${input.width}x${input.height}`,
      `pix_fmt=${input.format}`,
      'time_base=1/1',
      'pixel_aspect=1/1',
      `colorspace=${input.colorSpace}`,
      `range=${input.colorRange}`,
    ].join(':');
    const source = this.graph.createFilter(Filter.getByName('buffer')!, 'in', args);
    const sink = this.graph.createFilter(Filter.getByName('buffersink')!, 'out', null);
    if (!source || !sink) {
      this.graph.free();
      throw errors.internal(new Error('libavfilter buffer source/sink unavailable'));
    }
    this.source = source;
    this.sink = sink;
    const outputs = new FilterInOut();
    outputs.alloc();
    outputs.name = 'in';
    outputs.filterCtx = source;
    outputs.padIdx = 0;
    outputs.next = null;
    const inputs = new FilterInOut();
    inputs.alloc();
    inputs.name = 'out';
    inputs.filterCtx = sink;
    inputs.padIdx = 0;
    inputs.next = null;
    let ret = this.graph.parsePtr(chain, inputs, outputs);
    if (ret >= 0) ret = this.graph.configSync();
    if (ret < 0) {
      this.graph.free();
      throw errors.internal(new Error(`filter graph "${chain}" failed: ${describeError(ret)}`));
    }
    this.out.alloc();
  }

  /** Runs one frame through: the output frame (`this.out`), or the negative AVERROR it failed with. */
  run(frame: Frame): Frame | number {
    this.out.unref();
    let ret = this.source.buffersrcAddFrameSync(frame, AV_BUFFERSRC_FLAG_KEEP_REF);
    if (ret >= 0) ret = this.sink.buffersinkGetFrameSync(this.out);
    return ret < 0 ? ret : this.out;
  }

  free(): void {
    this.out.free();
    this.graph.free();
  }
}

/** A video frame → packed RGB or grey pixels at the output size. */
class Conversion {
  private readonly chain: FilterChain;

  constructor(frame: Frame, chain: string, private readonly channels: 1 | 3) {
    this.chain = new FilterChain(frame, chain);
  }

  run(frame: Frame): Pixels {
    const out = this.chain.run(frame);
    if (typeof out === 'number') throw errors.notMedia(`The frame could not be converted: ${describeError(out)}.`);
    try {
      const expected = out.format === AV_PIX_FMT_GRAY8 || out.format === AV_PIX_FMT_RGB24;
      if (!expected) throw errors.internal(new Error(`conversion produced pixel format ${out.format}`));
      return { data: Buffer.from(out.toBuffer()), width: out.width, height: out.height, channels: this.channels };
    } finally {
      out.unref();
    }
  }

  free(): void {
    this.chain.free();
  }
}

/**
 * Conversions of one source, kept while it stays open: a task renders many frames of one shape. A
 * stream that changes size or format mid-way gets a new graph (the key includes the input shape).
 */
export class Converter {
  private readonly graphs = new Map<string, Conversion>();

  constructor(
    private readonly colour: ColourSource,
    private readonly toneMap: ToneMap,
  ) {}

  convert(frame: Frame, out: PixelsOut): Pixels {
    const key = `${frame.width}x${frame.height}:${frame.format}:${frame.colorSpace}:${frame.colorRange}:${frame.colorTrc}:${frame.colorPrimaries}>${out.kind}:${out.width}x${out.height}`;
    let conversion = this.graphs.get(key);
    if (!conversion) {
      // A handful per source (a task uses one or two output sizes); the oldest goes first.
      if (this.graphs.size >= 8) {
        const [oldest, graph] = this.graphs.entries().next().value as [string, Conversion];
        graph.free();
        this.graphs.delete(oldest);
      }
      conversion = new Conversion(frame, conversionChain(frame, this.colour, out, this.toneMap), out.kind === 'grey' ? 1 : 3);
      this.graphs.set(key, conversion);
    }
    return conversion.run(frame);
  }

  close(): void {
    for (const graph of this.graphs.values()) graph.free();
    this.graphs.clear();
  }
}
