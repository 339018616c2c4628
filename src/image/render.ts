// A scaled RGB picture → the finished image: turn, crop or pad (src/image/geometry.ts decided how), then
// encode with sharp. Runs in the capture workers, right after the engine scaled the frame.
import sharp, { type Sharp } from 'sharp';
import type { ImageFormat } from '../process/snapshot.js';
import type { Geometry } from './geometry.js';

export interface Quality {
  jpeg: number;
  webp: number;
  avif: number;
}

export interface RgbPicture {
  data: Buffer;
  width: number;
  height: number;
}

export const CONTENT_TYPES: Record<ImageFormat, string> = {
  jpg: 'image/jpeg',
  png: 'image/png',
  webp: 'image/webp',
  avif: 'image/avif',
};

/** The picture turned, cropped and padded as `geometry` says, not yet encoded. */
export function shapePicture(picture: RgbPicture, geometry: Geometry): Sharp {
  let image = sharp(picture.data, { raw: { width: picture.width, height: picture.height, channels: 3 } });
  if (geometry.turn) image = image.rotate(geometry.turn);
  if (geometry.crop) image = image.extract(geometry.crop);
  if (geometry.pad) {
    // After a turn sharp reports the stored size, so the padding is computed from the geometry.
    const w = geometry.turn % 180 ? picture.height : picture.width;
    const h = geometry.turn % 180 ? picture.width : picture.height;
    const left = Math.floor((geometry.pad.width - w) / 2);
    const top = Math.floor((geometry.pad.height - h) / 2);
    image = image.extend({ left, top, right: geometry.pad.width - w - left, bottom: geometry.pad.height - h - top, background: { r: 0, g: 0, b: 0 } });
  }
  return image;
}

/** The shaped picture as raw RGB, for image actions after a snapshot (no intermediate encoding). */
export async function shapedPixels(picture: RgbPicture, geometry: Geometry): Promise<RgbPicture> {
  const { data, info } = await shapePicture(picture, geometry).raw().toBuffer({ resolveWithObject: true });
  return { data, width: info.width, height: info.height };
}

export async function renderPicture(picture: RgbPicture, geometry: Geometry, format: ImageFormat, quality: Quality): Promise<Buffer> {
  return encodePicture(shapePicture(picture, geometry), format, quality);
}

/** The one encoding of frames, tiles and sheets: the server's qualities, fast encoder settings. */
export function encodePicture(image: Sharp, format: ImageFormat, quality: Quality): Promise<Buffer> {
  switch (format) {
    case 'jpg':
      return image.jpeg({ quality: quality.jpeg }).toBuffer();
    case 'png':
      // Level 6 costs twice level 3 for a few percent: a frame is served once and then cached.
      return image.png({ compressionLevel: 3 }).toBuffer();
    case 'webp':
      return image.webp({ quality: quality.webp, effort: 2 }).toBuffer();
    case 'avif':
      return image.avif({ quality: quality.avif, effort: 2 }).toBuffer();
  }
}
