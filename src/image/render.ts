// Raw frame → finished image: pixel aspect, orientation, resize, encode — always in that order, whatever
// order the request listed its parameters in.
import sharp, { type FitEnum } from 'sharp';
import type { RawFrame } from '../media/decode.js';
import type { ImageFormat, Orientation } from '../process/snapshot.js';

export type ScaleType = 'stretch' | 'crop' | 'fill' | 'fit';

export interface RenderOptions {
  format: ImageFormat;
  orientation: Orientation;
  /** Clockwise degrees the stream asks to be turned to display upright. */
  rotation: number;
  sampleAspect: number;
  /** 0 = derive from the other side (or keep the source size when both are 0). */
  width: number;
  height: number;
  /** How a box with both sides set is filled; the URL API always stretches (as OSS). */
  scaleType: ScaleType;
  quality: { jpeg: number; webp: number; avif: number };
}

export const CONTENT_TYPES: Record<ImageFormat, string> = {
  jpg: 'image/jpeg',
  png: 'image/png',
  webp: 'image/webp',
  avif: 'image/avif',
};

/**
 * Turn applied for `ar`: `auto` shows the picture upright; `w`/`h` pick whichever of the stored and
 * the upright picture is landscape/portrait, and turn the stored one 90° when neither is.
 */
export function orientationTurn(orientation: Orientation, rotation: number, width: number, height: number): number {
  if (orientation === 'none') return 0;
  if (orientation === 'auto') return rotation;
  const wantLandscape = orientation === 'w';
  const landscape = (turn: number) => (turn % 180 === 0 ? width >= height : height >= width);
  if (landscape(rotation) === wantLandscape) return rotation;
  if (landscape(0) === wantLandscape) return 0;
  return 90;
}

const FIT: Record<ScaleType, keyof FitEnum> = {
  stretch: 'fill',
  crop: 'cover',
  fill: 'contain',
  fit: 'inside',
};

export async function renderFrame(frame: RawFrame, options: RenderOptions): Promise<Buffer> {
  let image = sharp(frame.data, { raw: { width: frame.width, height: frame.height, channels: frame.channels } });
  let width = frame.width;
  let height = frame.height;
  // Non-square pixels (anamorphic DVD/broadcast video) are squared so the picture has its display shape.
  if (Math.abs(options.sampleAspect - 1) > 0.01) {
    width = Math.max(1, Math.round(width * options.sampleAspect));
    image = sharp(await image.resize(width, height, { fit: 'fill' }).raw().toBuffer(), {
      raw: { width, height, channels: frame.channels },
    });
  }
  const turn = orientationTurn(options.orientation, options.rotation, width, height);
  if (turn) {
    image = image.rotate(turn);
    if (turn % 180) [width, height] = [height, width];
  }
  if (options.width || options.height) {
    // One side given: sharp derives the other from the aspect ratio. Both: the scale type decides.
    image =
      options.width && options.height
        ? image.resize(options.width, options.height, { fit: FIT[options.scaleType], background: { r: 0, g: 0, b: 0 } })
        : image.resize(options.width || null, options.height || null);
  }
  switch (options.format) {
    case 'jpg':
      return image.jpeg({ quality: options.quality.jpeg }).toBuffer();
    case 'png':
      // Level 6 costs twice level 3 for a few percent: a frame is served once and then cached.
      return image.png({ compressionLevel: 3 }).toBuffer();
    case 'webp':
      return image.webp({ quality: options.quality.webp, effort: 2 }).toBuffer();
    case 'avif':
      return image.avif({ quality: options.quality.avif, effort: 2 }).toBuffer();
  }
}
