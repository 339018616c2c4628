// The libavfilter chain from a decoded frame to output pixels (src/media/engine/convert.ts,
// conversionChain): one scale straight to the output size; SDR through swscale with the declared matrix
// (BT.709 assumed for undeclared HD), BT.2020 SDR with its primaries converted, PQ and HLG linearised with
// SDR reference white at 203 cd/m² and tone-mapped by the chosen curve to the stream's peak; 'off' shows
// HDR as coded.
import { AVCOL_SPC_BT2020_NCL, AVCOL_SPC_BT709, AVCOL_SPC_SMPTE170M, AVCOL_SPC_UNSPECIFIED } from 'node-av';
import { describe, expect, it } from 'vitest';
import { conversionChain, REFERENCE_WHITE, type ColourSource } from '../../../../src/media/engine/convert.js';

const sdr: ColourSource = { transfer: 'sdr', primaries: 'bt709', peakLuminance: undefined };
const rgb = (width: number, height: number) => ({ kind: 'rgb', width, height }) as const;
const frame = (width: number, height: number, colorSpace: number = AVCOL_SPC_BT709) => ({ width, height, colorSpace });

describe('conversionChain', () => {
  it('reference white is 203 cd/m² (ITU-R BT.2408)', () => {
    expect(REFERENCE_WHITE).toBe(203);
  });

  it('SDR: one bicubic swscale pass to the output size, with the matrix the frame declares', () => {
    expect(conversionChain(frame(1920, 1080), sdr, rgb(320, 180), 'mobius')).toBe('scale=w=320:h=180:flags=bicubic,format=rgb24');
    expect(conversionChain(frame(720, 576, AVCOL_SPC_SMPTE170M), { ...sdr, primaries: 'bt470bg' }, rgb(768, 576), 'mobius')).toBe('scale=w=768:h=576:flags=bicubic,format=rgb24');
    // SD without a declared matrix: swscale's own default (BT.601), as players do for SD.
    expect(conversionChain(frame(640, 480, AVCOL_SPC_UNSPECIFIED), sdr, rgb(640, 480), 'mobius')).toBe('scale=w=640:h=480:flags=bicubic,format=rgb24');
  });

  it('HD without a declared matrix is read as BT.709 (1280 wide or 720 high is HD)', () => {
    for (const [w, h] of [[1920, 1080], [1280, 540], [960, 720]] as const) {
      expect(conversionChain(frame(w, h, AVCOL_SPC_UNSPECIFIED), sdr, rgb(320, 180), 'mobius')).toBe('scale=w=320:h=180:flags=bicubic:in_color_matrix=bt709,format=rgb24');
    }
    expect(conversionChain(frame(1279, 719, AVCOL_SPC_UNSPECIFIED), sdr, rgb(320, 180), 'mobius')).toBe('scale=w=320:h=180:flags=bicubic,format=rgb24');
  });

  it('BT.2020 SDR: zscale converts the primaries to BT.709 (full-range RGB out)', () => {
    const bt2020 = { transfer: 'sdr', primaries: 'bt2020', peakLuminance: undefined } as const;
    expect(conversionChain(frame(3840, 2160, AVCOL_SPC_BT2020_NCL), bt2020, rgb(640, 360), 'mobius')).toBe('zscale=w=640:h=360:filter=bicubic:p=bt709:t=bt709:m=bt709:r=full,format=rgb24');
    // Tone mapping off changes nothing for SDR.
    expect(conversionChain(frame(3840, 2160, AVCOL_SPC_BT2020_NCL), bt2020, rgb(640, 360), 'off')).toBe('zscale=w=640:h=360:filter=bicubic:p=bt709:t=bt709:m=bt709:r=full,format=rgb24');
  });

  const hdrChain = (curve: string, peak: string) =>
    [
      'zscale=w=640:h=360:filter=bicubic:t=linear:npl=203',
      'format=gbrpf32le',
      'zscale=p=bt709',
      `tonemap=${curve}:desat=0:peak=${peak}`,
      'zscale=t=bt709:m=bt709:r=full',
      'format=rgb24',
    ].join(',');

  it.each([
    ['pq', 'mobius', 'mobius:param=0.6'],
    ['pq', 'hable', 'hable'],
    ['pq', 'reinhard', 'reinhard'],
    ['pq', 'clip', 'clip'],
    ['hlg', 'mobius', 'mobius:param=0.6'],
    ['hlg', 'hable', 'hable'],
    ['hlg', 'reinhard', 'reinhard'],
    ['hlg', 'clip', 'clip'],
  ] as const)('%s with %s: linear light (1.0 = 203 cd/m²), BT.709 primaries, the curve to the peak (1000 cd/m² without metadata)', (transfer, toneMap, curve) => {
    const colour: ColourSource = { transfer, primaries: 'bt2020', peakLuminance: undefined };
    // 1000 / 203 = 4.92610…
    expect(conversionChain(frame(3840, 2160, AVCOL_SPC_BT2020_NCL), colour, rgb(640, 360), toneMap)).toBe(hdrChain(curve, '4.9261'));
  });

  it('the peak comes from the stream metadata when there is some, never below reference white', () => {
    const at = (peakLuminance: number) => conversionChain(frame(3840, 2160, AVCOL_SPC_BT2020_NCL), { transfer: 'pq', primaries: 'bt2020', peakLuminance }, rgb(640, 360), 'hable');
    expect(at(4000)).toBe(hdrChain('hable', '19.7044'));
    expect(at(203)).toBe(hdrChain('hable', '1.0000'));
    expect(at(100)).toBe(hdrChain('hable', '1.0000'));
  });

  it('off: HDR is scaled as coded, without tone mapping or primaries conversion', () => {
    for (const transfer of ['pq', 'hlg'] as const) {
      expect(conversionChain(frame(3840, 2160, AVCOL_SPC_BT2020_NCL), { transfer, primaries: 'bt2020', peakLuminance: 1000 }, rgb(640, 360), 'off')).toBe('scale=w=640:h=360:flags=bicubic,format=rgb24');
    }
  });

  it('a grey thumbnail (dhash): area-averaged, whatever the colour', () => {
    const grey = { kind: 'grey', width: 9, height: 8 } as const;
    expect(conversionChain(frame(1920, 1080), sdr, grey, 'mobius')).toBe('scale=w=9:h=8:flags=area,format=gray');
    expect(conversionChain(frame(3840, 2160, AVCOL_SPC_BT2020_NCL), { transfer: 'pq', primaries: 'bt2020', peakLuminance: undefined }, grey, 'mobius')).toBe('scale=w=9:h=8:flags=area,format=gray');
  });
});
