// Where every output pixel comes from, decided once and in a fixed order whatever the order of the
// request's parameters: square the pixels (anamorphic video), turn upright (`ar`, IMM outputs), resize to
// the requested box (stretch, or keep the aspect and crop / pad / fit), then encode. The engine scales
// the decoded picture straight to `scaled` (one pass from YUV), so only output-sized pixels move on;
// the renderer turns, crops or pads and encodes. Pure.
import type { Orientation } from '../process/snapshot.js';

export type ScaleType = 'stretch' | 'crop' | 'fill' | 'fit';

export interface SourcePicture {
  /** Stored size. */
  width: number;
  height: number;
  /** Pixel aspect ratio (1 = square). */
  sampleAspect: number;
  /** Clockwise degrees the stream asks to be turned to display upright. */
  rotation: number;
}

export interface GeometryRequest {
  orientation: Orientation;
  /** 0 = derive from the other side (or keep the source size when both are 0). */
  width: number;
  height: number;
  scaleType: ScaleType;
}

export interface Box {
  width: number;
  height: number;
}

export interface Geometry {
  /** What the engine scales the stored picture to, before turning (pixels squared, resize applied). */
  scaled: Box;
  /** Clockwise degrees turned after scaling. */
  turn: 0 | 90 | 180 | 270;
  /** After turning: a centred box cut out (crop) or a black canvas the picture is centred on (fill). */
  crop?: { left: number; top: number; width: number; height: number };
  pad?: Box;
  /** The image's final size. */
  output: Box;
}

/**
 * Turn applied for `ar`: `auto` shows the picture upright; `w`/`h` pick whichever of the stored and
 * the upright picture is landscape/portrait, and turn the stored one 90° when neither is.
 */
export function orientationTurn(orientation: Orientation, rotation: number, width: number, height: number): 0 | 90 | 180 | 270 {
  if (orientation === 'none') return 0;
  const upright = (((Math.round(rotation / 90) * 90) % 360) + 360) % 360 as 0 | 90 | 180 | 270;
  if (orientation === 'auto') return upright;
  const wantLandscape = orientation === 'w';
  const landscape = (turn: number) => (turn % 180 === 0 ? width >= height : height >= width);
  if (landscape(upright) === wantLandscape) return upright;
  if (landscape(0) === wantLandscape) return 0;
  return 90;
}

const atLeastOne = (n: number) => Math.max(1, Math.round(n));

export function planGeometry(source: SourcePicture, request: GeometryRequest): Geometry {
  // Non-square pixels (anamorphic DVD/broadcast video) are squared so the picture has its display shape.
  const displayWidth = Math.abs(source.sampleAspect - 1) > 0.01 ? atLeastOne(source.width * source.sampleAspect) : source.width;
  const displayHeight = source.height;
  const turn = orientationTurn(request.orientation, source.rotation, displayWidth, displayHeight);
  const sideways = turn % 180 !== 0;
  const upright: Box = sideways ? { width: displayHeight, height: displayWidth } : { width: displayWidth, height: displayHeight };

  let picture: Box = upright;
  let crop: Geometry['crop'];
  let pad: Box | undefined;
  const { width: w, height: h } = request;
  if (w && h) {
    if (request.scaleType === 'stretch') {
      picture = { width: w, height: h };
    } else {
      const cover = request.scaleType === 'crop';
      const scale = cover ? Math.max(w / upright.width, h / upright.height) : Math.min(w / upright.width, h / upright.height);
      picture = { width: atLeastOne(upright.width * scale), height: atLeastOne(upright.height * scale) };
      if (cover) {
        picture = { width: Math.max(picture.width, w), height: Math.max(picture.height, h) };
        crop = { left: Math.floor((picture.width - w) / 2), top: Math.floor((picture.height - h) / 2), width: w, height: h };
      } else if (request.scaleType === 'fill') {
        pad = { width: w, height: h };
      }
    }
  } else if (w) {
    picture = { width: w, height: atLeastOne((upright.height * w) / upright.width) };
  } else if (h) {
    picture = { width: atLeastOne((upright.width * h) / upright.height), height: h };
  }
  return {
    scaled: sideways ? { width: picture.height, height: picture.width } : picture,
    turn,
    ...(crop ? { crop } : {}),
    ...(pad ? { pad } : {}),
    output: crop ? { width: crop.width, height: crop.height } : (pad ?? picture),
  };
}
