// Output geometry (src/image/geometry.ts), decided once in a fixed order: square the pixels, turn upright
// (`ar`), resize to the requested box (stretch; or keep the aspect and crop / pad / fit), with sizes
// rounded and never below one pixel. The engine scales to `scaled` before the turn.
import { describe, expect, it } from 'vitest';
import { orientationTurn, planGeometry, type GeometryRequest, type SourcePicture } from '../../../src/image/geometry.js';

const source = (width: number, height: number, extra: Partial<SourcePicture> = {}): SourcePicture => ({ width, height, sampleAspect: 1, rotation: 0, ...extra });
const request = (width: number, height: number, extra: Partial<GeometryRequest> = {}): GeometryRequest => ({ orientation: 'none', width, height, scaleType: 'stretch', ...extra });

describe('orientationTurn', () => {
  it('none: never turned, whatever the stream asks', () => {
    expect([0, 90, 180, 270].map((r) => orientationTurn('none', r, 320, 240))).toEqual([0, 0, 0, 0]);
  });

  it('auto: the stream rotation, normalised to 0/90/180/270 and rounded to a quarter turn', () => {
    expect([0, 90, 180, 270, -90, 450, 89, 44, 46, -180].map((r) => orientationTurn('auto', r, 320, 240))).toEqual([0, 90, 180, 270, 270, 90, 90, 0, 90, 180]);
  });

  it('w: landscape — upright if that is landscape, else as stored if that is, else stored turned 90°', () => {
    expect(orientationTurn('w', 0, 320, 240)).toBe(0);
    expect(orientationTurn('w', 180, 320, 240)).toBe(180);
    expect(orientationTurn('w', 90, 240, 320)).toBe(90);
    expect(orientationTurn('w', 90, 320, 240)).toBe(0);
    expect(orientationTurn('w', 270, 320, 240)).toBe(0);
    expect(orientationTurn('w', 0, 240, 320)).toBe(90);
  });

  it('h: portrait, by the same rule; a square picture counts as landscape', () => {
    expect(orientationTurn('h', 0, 240, 320)).toBe(0);
    expect(orientationTurn('h', 90, 320, 240)).toBe(90);
    expect(orientationTurn('h', 90, 240, 320)).toBe(0);
    expect(orientationTurn('h', 0, 320, 240)).toBe(90);
    expect(orientationTurn('w', 0, 100, 100)).toBe(0);
    expect(orientationTurn('h', 0, 100, 100)).toBe(90);
  });
});

describe('planGeometry', () => {
  it('no size asked: the source size, nothing turned, cropped or padded', () => {
    expect(planGeometry(source(320, 240), request(0, 0))).toEqual({ scaled: { width: 320, height: 240 }, turn: 0, output: { width: 320, height: 240 } });
  });

  it('stretch: exactly the box, the aspect not kept', () => {
    expect(planGeometry(source(320, 240), request(200, 200))).toEqual({ scaled: { width: 200, height: 200 }, turn: 0, output: { width: 200, height: 200 } });
  });

  it('crop: covers the box, then a centred cut of the box', () => {
    // 320×240 × max(200/320, 200/240) = 266.67×200 → 267×200, cut 33 px from the left.
    expect(planGeometry(source(320, 240), request(200, 200, { scaleType: 'crop' }))).toEqual({
      scaled: { width: 267, height: 200 },
      turn: 0,
      crop: { left: 33, top: 0, width: 200, height: 200 },
      output: { width: 200, height: 200 },
    });
    // A portrait box over a landscape picture: cut from the sides; over a very wide one, far into it.
    expect(planGeometry(source(320, 240), request(100, 300, { scaleType: 'crop' })).crop).toEqual({ left: 150, top: 0, width: 100, height: 300 });
    expect(planGeometry(source(1000, 10), request(100, 100, { scaleType: 'crop' }))).toMatchObject({ scaled: { width: 10000, height: 100 }, crop: { left: 4950, top: 0 } });
  });

  it('fill: fits inside the box and is padded to it', () => {
    expect(planGeometry(source(320, 240), request(200, 200, { scaleType: 'fill' }))).toEqual({
      scaled: { width: 200, height: 150 },
      turn: 0,
      pad: { width: 200, height: 200 },
      output: { width: 200, height: 200 },
    });
  });

  it('fit: fits inside the box, no padding (the output is smaller than the box)', () => {
    expect(planGeometry(source(320, 240), request(200, 200, { scaleType: 'fit' }))).toEqual({ scaled: { width: 200, height: 150 }, turn: 0, output: { width: 200, height: 150 } });
    expect(planGeometry(source(320, 240), request(640, 100, { scaleType: 'fit' })).output).toEqual({ width: 133, height: 100 });
  });

  it('one side given: the other follows the aspect (whatever the scale type)', () => {
    expect(planGeometry(source(320, 240), request(160, 0)).output).toEqual({ width: 160, height: 120 });
    expect(planGeometry(source(320, 240), request(0, 100)).output).toEqual({ width: 133, height: 100 });
    expect(planGeometry(source(320, 240), request(0, 100, { scaleType: 'crop' })).output).toEqual({ width: 133, height: 100 });
    expect(planGeometry(source(320, 240), request(640, 0, { scaleType: 'fill' }))).toEqual({ scaled: { width: 640, height: 480 }, turn: 0, output: { width: 640, height: 480 } });
  });

  it('rounds to the nearest pixel and never below one', () => {
    expect(planGeometry(source(333, 200), request(100, 0)).output).toEqual({ width: 100, height: 60 });
    expect(planGeometry(source(1000, 10), request(10, 0)).output).toEqual({ width: 10, height: 1 });
    expect(planGeometry(source(1000, 10), request(100, 100, { scaleType: 'fit' })).output).toEqual({ width: 100, height: 1 });
    expect(planGeometry(source(10, 1000), request(0, 10)).output).toEqual({ width: 1, height: 10 });
  });

  it('rotation: the box applies to the upright picture; the engine scales before the turn', () => {
    const rotated = source(320, 240, { rotation: 90 });
    expect(planGeometry(rotated, request(0, 0, { orientation: 'auto' }))).toEqual({ scaled: { width: 320, height: 240 }, turn: 90, output: { width: 240, height: 320 } });
    expect(planGeometry(rotated, request(120, 0, { orientation: 'auto' }))).toEqual({ scaled: { width: 160, height: 120 }, turn: 90, output: { width: 120, height: 160 } });
    expect(planGeometry(rotated, request(100, 100, { orientation: 'auto', scaleType: 'crop' }))).toEqual({
      scaled: { width: 133, height: 100 },
      turn: 90,
      crop: { left: 0, top: 16, width: 100, height: 100 },
      output: { width: 100, height: 100 },
    });
    // Not asked to turn: the stored picture, as stored.
    expect(planGeometry(rotated, request(160, 0))).toEqual({ scaled: { width: 160, height: 120 }, turn: 0, output: { width: 160, height: 120 } });
    expect(planGeometry(source(320, 240, { rotation: 180 }), request(160, 0, { orientation: 'auto' }))).toEqual({ scaled: { width: 160, height: 120 }, turn: 180, output: { width: 160, height: 120 } });
  });

  it('non-square pixels are squared first: 160×240 at 2:1 is shown 320×240', () => {
    const anamorphic = source(160, 240, { sampleAspect: 2 });
    expect(planGeometry(anamorphic, request(0, 0)).output).toEqual({ width: 320, height: 240 });
    expect(planGeometry(anamorphic, request(160, 0)).output).toEqual({ width: 160, height: 120 });
    expect(planGeometry(source(720, 576, { sampleAspect: 16 / 15 }), request(0, 0)).output).toEqual({ width: 768, height: 576 });
    // Within 1 % of square: left as stored.
    expect(planGeometry(source(160, 240, { sampleAspect: 1.005 }), request(0, 0)).output).toEqual({ width: 160, height: 240 });
    // Squared, then turned.
    expect(planGeometry(source(160, 240, { sampleAspect: 2, rotation: 90 }), request(0, 0, { orientation: 'auto' }))).toEqual({ scaled: { width: 320, height: 240 }, turn: 90, output: { width: 240, height: 320 } });
  });
});
