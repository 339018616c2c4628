// Pure parsing and validation of IMM requests and output templates: every mistake is found before a
// task is accepted, with a message naming the field by its full path.
import { describe, expect, it } from 'vitest';
import { AppError } from '../../../src/errors.js';
import {
  badValue, jsonParam, outputUri, parseConvertTask, parseCreateProject, parseGetTask, parseListProjects, parseListTasks, parseTags, type Params,
} from '../../../src/process/imm-request.js';
import { parseTemplate, renderTemplate, sourceVariables } from '../../../src/process/imm-template.js';

const LIMITS = { maxOutputDimension: 4096, maxFramesPerTask: 100 };
const NOW = new Date('2024-03-05T06:07:08Z');

const base = (snapshot: Record<string, unknown>, extra: Params = {}): Params => ({
  ProjectName: 'test-project',
  Sources: JSON.stringify([{ URI: 'oss://test-bucket/video-demo/Winemaking.mov' }]),
  Targets: JSON.stringify([{ Image: { Snapshots: [{ Format: 'jpg', URI: 'oss://test-bucket/out/{index}.jpg', ...snapshot }] } }]),
  ...extra,
});

function failureOf(fn: () => unknown): AppError {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(AppError);
    return err as AppError;
  }
  throw new Error('expected a refusal');
}

function failure(params: Params): AppError {
  try {
    parseConvertTask(params, LIMITS, NOW);
  } catch (err) {
    expect(err).toBeInstanceOf(AppError);
    return err as AppError;
  }
  throw new Error('expected the request to be rejected');
}

const S = 'Targets[0].Image.Snapshots[0]';

describe('CreateMediaConvertTask validation', () => {
  it.each([
    [{ Mode: 'fast' }, 400, 'InvalidArgument', `Expected one of interval, average, keyframe, dhash for ${S}.Mode but received "fast".`],
    [{ ScaleType: 'zoom' }, 400, 'InvalidArgument', `Expected one of stretch, crop, fill, fit for ${S}.ScaleType but received "zoom".`],
    [{ Format: 'gif' }, 400, 'InvalidArgument', `Expected one of jpg, png, webp for ${S}.Format but received "gif".`],
    [{ Format: undefined }, 400, 'MissingFormat', `The parameter ${S}.Format is required.`],
    [{ URI: undefined }, 400, 'MissingURI', `The parameter ${S}.URI is required.`],
    [{ Width: 0 }, 400, 'InvalidArgument', `Expected integer between 1 and 4096 (pixels) or a decimal in (0, 1) (fraction of the source) for ${S}.Width but received 0.`],
    [{ Height: 4097 }, 400, 'InvalidArgument', `Expected integer between 1 and 4096 (pixels) or a decimal in (0, 1) (fraction of the source) for ${S}.Height but received 4097.`],
    [{ Width: 1.5 }, 400, 'InvalidArgument', `Expected integer between 1 and 4096 (pixels) or a decimal in (0, 1) (fraction of the source) for ${S}.Width but received 1.5.`],
    [{ Interval: 0 }, 400, 'InvalidArgument', `Expected number > 0 and <= 432000 for ${S}.Interval but received 0.`],
    [{ Number: -1 }, 400, 'InvalidArgument', `Expected integer between 0 and 1000000 for ${S}.Number but received -1.`],
    [{ Number: 2.5 }, 400, 'InvalidArgument', `Expected integer between 0 and 1000000 for ${S}.Number but received 2.5.`],
    [{ Threshold: 10 }, 400, 'InvalidArgument', `${S}.Threshold applies to Mode dhash only (Mode is interval).`],
    [{ Mode: 'dhash', Threshold: 101 }, 400, 'InvalidArgument', `Expected number between 0 and 100 for ${S}.Threshold but received 101.`],
    [{ Mode: 'dhash' }, 400, 'InvalidArgument', `${S}: Mode dhash needs Threshold (0-100) or Number (>= 1) to choose frames.`],
    [{ Mode: 'average' }, 400, 'InvalidArgument', `${S}.Number is required (integer >= 1) with Mode average: the frames to spread over the video.`],
    [{ URI: 'oss://test-bucket/out/frame.jpg', Interval: 5 }, 400, 'InvalidArgument', `${S}.URI must contain {index}: this snapshot can produce several frames (Number is 0 = until the end), which would overwrite each other.`],
    [{ URI: 'oss://test-bucket/out/frame.jpg', Mode: 'keyframe', Number: 3 }, 400, 'InvalidArgument', `${S}.URI must contain {index}: this snapshot can produce several frames (Number is 3), which would overwrite each other.`],
    [{ URI: 'oss://test-bucket/{nope}-{index}.jpg' }, 400, 'InvalidArgument', `${S}.URI uses unknown variable {nope}: expected one of index, autoext, bucket, key, dirname, barename, basename, ext, year, mon, day, hour, min, sec, t_year, t_mon, t_day, t_hour, t_min, t_sec or tags.<name>.`],
    [{ URI: 'oss://test-bucket/{index.jpg' }, 400, 'InvalidArgument', `${S}.URI has an unclosed "{" at position 18: write "{{" for a literal brace.`],
    [{ URI: 'oss://test-bucket/{tags.who}-{index}.jpg' }, 400, 'InvalidArgument', `${S}.URI uses {tags.who} but Tags has no "who".`],
    [{ URI: 'https://example.com/{index}.jpg' }, 400, 'InvalidArgument', `Expected oss://bucket/key (template variables allowed) for ${S}.URI but received "https://example.com/{index}.jpg".`],
    [{ URI: 'oss://test-bucket/../{index}.jpg' }, 400, 'InvalidArgument', `${S}.URI renders to "oss://test-bucket/../1.jpg": The object key contains an empty, "." or ".." path segment.`],
    [{ Number: 101 }, 400, 'LimitExceededError', `${S}.Number is 101, above the limit of 100 frames per task.`],
    [{ Quality: 90 }, 400, 'InvalidArgument', `${S} has unknown field "Quality": expected Format, URI, StartTime, Interval, Number, Mode, Threshold, Width, Height, ScaleType.`],
  ])('%j → %i %s', (snapshot, status, code, message) => {
    const err = failure(base(snapshot));
    expect([err.status, err.code, err.message]).toEqual([status, code, message]);
  });

  it.each([
    [{ ProjectName: undefined }, 'MissingProjectName', 'The parameter ProjectName is required.'],
    [{ ProjectName: '9lives' }, 'InvalidArgument', 'Expected a name of letters, digits, "-" and "_" that starts with a letter (at most 128 characters) for ProjectName but received "9lives".'],
    [{ Sources: undefined }, 'MissingSources', 'The parameter Sources is required.'],
    [{ Sources: '[]' }, 'MissingSources', 'The parameter Sources[0] is required.'],
    [{ Sources: '[{"URI": "s3://b/k.mp4"}]' }, 'InvalidArgument', 'Expected oss://bucket/key for Sources[0].URI but received "s3://b/k.mp4".'],
    [{ Sources: '[{"URI": "oss://bkt/k.mp4", "StartTime": -1}]' }, 'InvalidArgument', 'Expected number between 0 and 432000 for Sources[0].StartTime but received -1.'],
    [{ Sources: '[{"URI": "oss://bkt/k.mp4"' }, 'InvalidArgument', expect.stringMatching(/^Sources must be a JSON string: /)],
    [{ Targets: '[{"Container": "mp4", "URI": "oss://bkt/x.mp4"}]' }, 'InvalidArgument', 'Targets[0].Container: transcoding targets are not supported; a frame-capture target has only Image (Snapshots, Sprites, Animations).'],
    [{ Targets: '[{"Image": {"Thumbnails": []}}]' }, 'InvalidArgument', 'Targets[0].Image.Thumbnails is not supported: expected Snapshots, Sprites, Animations.'],
  ])('%j → %s', (extra, code, message) => {
    const err = failure(base({}, extra));
    expect(err.status).toBe(400);
    expect(err.code).toBe(code);
    expect(err.message).toEqual(message);
  });

  it('rejects two snapshots that would write the same objects, and outputs over the source', () => {
    const twice = base({}, {
      Targets: [{ Image: { Snapshots: [
        { Format: 'jpg', URI: 'oss://bkt/{index}.jpg', Interval: 2 },
        { Format: 'jpg', URI: 'oss://bkt/{index}.jpg', Interval: 3 },
      ] } }],
    });
    expect(failure(twice).message).toBe('Targets[0].Image.Snapshots[1] of Sources[0] and Targets[0].Image.Snapshots[0] of Sources[0] would write the same objects (oss://bkt/1.jpg, …): give their URIs different names.');
    const over = base({ URI: 'oss://test-bucket/video-demo/Winemaking.mov', Number: 1 });
    expect(failure(over).message).toBe(`${S}.URI would overwrite the source oss://test-bucket/video-demo/Winemaking.mov.`);
  });

  it('checks the per-task cap on known frame counts across sources', () => {
    const params = base({ Number: 60 }, { Sources: [{ URI: 'oss://bkt/a.mp4' }, { URI: 'oss://bkt/b.mp4' }], Targets: [{ Image: { Snapshots: [{ Format: 'jpg', Number: 60, URI: 'oss://bkt/{barename}-{index}.jpg' }] } }] });
    const err = failure(params);
    expect([err.code, err.message]).toEqual(['LimitExceededError', 'The task asks for 120 frames, above the limit of 100 frames per task.']);
  });

  it('accepts the JSON-body form (objects) and the RPC form (JSON strings) alike, with defaults', () => {
    const snapshot = { Format: 'png', URI: 'oss://test-bucket/out/{index}.{autoext}', Width: 0.5 };
    const viaJson = parseConvertTask({ ProjectName: 'p', Sources: [{ URI: 'oss://bkt/v.mp4' }], Targets: [{ Image: { Snapshots: [snapshot] } }] }, LIMITS, NOW);
    const viaForm = parseConvertTask({ ProjectName: 'p', Sources: '[{"URI":"oss://bkt/v.mp4"}]', Targets: JSON.stringify([{ Image: { Snapshots: [snapshot] } }]) }, LIMITS, NOW);
    expect(viaJson.snapshots).toEqual(viaForm.snapshots);
    expect(viaJson.snapshots[0]).toMatchObject({ mode: 'interval', interval: 1, number: 0, startTime: 0, scaleType: 'stretch', width: { fraction: 0.5 }, height: undefined });
    expect(viaJson.sources[0]).toMatchObject({ bucket: 'bkt', key: 'v.mp4', startTime: 0, duration: 0 });
  });

  it('reads the notification topic, user data and tags', () => {
    const request = parseConvertTask(base({ URI: 'oss://test-bucket/{tags.team}/{index}.jpg' }, {
      Notification: '{"MNS": {"TopicName": "test-mns-topic"}}',
      UserData: '{"id": 7}',
      Tags: '{"team": "video"}',
    }), LIMITS, NOW);
    expect([request.topic, request.userData, request.tags]).toEqual(['test-mns-topic', '{"id": 7}', { team: 'video' }]);
  });
});

describe('output URI templates', () => {
  const spec = (uri: string, format: 'jpg' | 'png' = 'jpg') =>
    parseConvertTask(base({ URI: uri, Format: format }, { Tags: { custom: 'c1' } }), LIMITS, NOW).snapshots[0]!;
  const source = { bucket: 'test-bucket', key: 'path1/path2/name.mov' };
  const render = (uri: string, index = 3, format: 'jpg' | 'png' = 'jpg') =>
    outputUri(spec(uri, format), source, { index, createdAt: NOW, sourceModified: new Date('2023-12-31T23:59:58Z'), tags: { custom: 'c1' } }).uri;

  it('fills every variable', () => {
    expect(render('oss://{bucket}/{dirname}/{barename}-{index}.{autoext}', 3, 'png')).toBe('oss://test-bucket/path1/path2/name-3.png');
    expect(render('oss://out/{key}/{basename}/{ext}/{index}.jpg')).toBe('oss://out/path1/path2/name.mov/name.mov/mov/3.jpg');
    expect(render('oss://out/{t_year}{t_mon}{t_day}-{t_hour}{t_min}{t_sec}/{index}.jpg')).toBe('oss://out/20240305-060708/3.jpg');
    expect(render('oss://out/{year}-{mon}-{day}T{hour}:{min}:{sec}/{index}.jpg')).toBe('oss://out/2023-12-31T23:59:58/3.jpg');
    expect(render('oss://out/{tags.custom}/{index}.jpg')).toBe('oss://out/c1/3.jpg');
  });

  it('escapes braces by doubling them', () => {
    expect(render('oss://out/{{x}}-{index}.jpg')).toBe('oss://out/{x}-3.jpg');
  });

  it('collapses the empty {dirname} of a source at the bucket root', () => {
    const t = parseTemplate('oss://out/{dirname}/{barename}.jpg', 'URI');
    expect(renderTemplate(t, sourceVariables('bkt', 'clip.mp4'))).toBe('oss://out//clip.jpg');
    expect(outputUri(spec('oss://out/{dirname}/{barename}-{index}.jpg'), { bucket: 'bkt', key: 'clip.mp4' }, { index: 1, createdAt: NOW, sourceModified: NOW, tags: {} }).uri).toBe('oss://out/clip-1.jpg');
  });
});

describe('ListTasks parameters', () => {
  it('accepts TaskTypes as JSON, comma list or pop-core flattening, and a tag selector', () => {
    expect(parseListTasks({ ProjectName: 'p', TaskTypes: '["MediaConvert"]' }).taskTypes).toEqual(['MediaConvert']);
    expect(parseListTasks({ ProjectName: 'p', TaskTypes: 'MediaConvert,Other' }).taskTypes).toEqual(['MediaConvert', 'Other']);
    expect(parseListTasks({ ProjectName: 'p', 'TaskTypes.1': 'MediaConvert' }).taskTypes).toEqual(['MediaConvert']);
    expect(parseListTasks({ ProjectName: 'p', TagSelector: 'a=1,b=2' }).tagSelector).toEqual({ a: '1', b: '2' });
    expect(() => parseListTasks({ ProjectName: 'p', MaxResults: 101 })).toThrow('Expected integer between 0 and 100 for MaxResults but received 101.');
    expect(() => parseListTasks({ ProjectName: 'p', Status: 'Done' })).toThrow('Expected one of Running, Succeeded, Failed for Status but received "Done".');
  });
});

describe('the other actions\' parameters', () => {
  it('jsonParam: a JSON string (RPC form) parsed, the value itself (JSON body) as is, empty as absent', () => {
    expect(jsonParam({ Tags: '{"a": 1}' }, 'Tags')).toEqual({ a: 1 });
    expect(jsonParam({ Tags: { a: 1 } }, 'Tags')).toEqual({ a: 1 });
    expect(jsonParam({ Tags: '  ' }, 'Tags')).toBeUndefined();
    expect(jsonParam({}, 'Tags')).toBeUndefined();
    expect(() => jsonParam({ Tags: '{a' }, 'Tags')).toThrow(/^Tags must be a JSON string: /);
  });

  it('parseTags: string values (numbers and booleans as strings), at most 20', () => {
    expect(parseTags({ Tags: '{"team": "video", "n": 7, "on": true}' })).toEqual({ team: 'video', n: '7', on: 'true' });
    expect(parseTags({})).toEqual({});
    expect(() => parseTags({ Tags: '["a"]' })).toThrow('Expected a JSON object of string values for Tags but received ["a"].');
    expect(() => parseTags({ Tags: { a: { b: 1 } } })).toThrow('Expected a string for Tags.a but received {"b":1}.');
    const many = Object.fromEntries(Array.from({ length: 21 }, (_, i) => [`k${i}`, 'v']));
    expect(failureOf(() => parseTags({ Tags: many }))).toMatchObject({ code: 'LimitExceededError', message: 'Tags has 21 entries, above the limit of 20.' });
  });

  it('parseCreateProject: the name rule and bounded texts', () => {
    expect(parseCreateProject({ ProjectName: 'p_1-x', Description: 'd', Tags: { a: 'b' } })).toEqual({ projectName: 'p_1-x', description: 'd', serviceRole: undefined, templateId: undefined, tags: { a: 'b' } });
    expect(() => parseCreateProject({ ProjectName: 'a'.repeat(129) })).toThrow(/^Expected a name of letters, digits/);
    expect(parseCreateProject({ ProjectName: 'a'.repeat(128) }).projectName).toHaveLength(128);
    expect(() => parseCreateProject({ ProjectName: 'p', Description: 'x'.repeat(257) })).toThrow(/^Expected a string of at most 256 characters for Description but received "x{3}/);
    expect(() => parseCreateProject({ ProjectName: 7 })).toThrow('Expected a string for ProjectName but received 7.');
  });

  it('parseGetTask: MediaConvert only; RequestDefinition as a boolean or its spelling', () => {
    expect(parseGetTask({ ProjectName: 'p', TaskId: 't', TaskType: 'MediaConvert', RequestDefinition: 'True' })).toEqual({ projectName: 'p', taskId: 't', taskType: 'MediaConvert', requestDefinition: true });
    expect(parseGetTask({ ProjectName: 'p', TaskId: 't', TaskType: 'MediaConvert' }).requestDefinition).toBe(false);
    expect(failureOf(() => parseGetTask({ ProjectName: 'p', TaskType: 'MediaConvert' }))).toMatchObject({ code: 'MissingTaskId' });
    expect(() => parseGetTask({ ProjectName: 'p', TaskId: 't', TaskType: 'FileCompression' })).toThrow('Expected MediaConvert (the only task type this server runs) for TaskType but received "FileCompression".');
    expect(() => parseGetTask({ ProjectName: 'p', TaskId: 't', TaskType: 'MediaConvert', RequestDefinition: 'yes' })).toThrow('Expected true or false for RequestDefinition but received "yes".');
  });

  it('parseListProjects: at most 100 per page (0 = 100), a prefix and a page token', () => {
    expect(parseListProjects({})).toEqual({ maxResults: 100, nextToken: undefined, prefix: undefined });
    expect(parseListProjects({ MaxResults: '5', NextToken: 'n', Prefix: 'p-' })).toEqual({ maxResults: 5, nextToken: 'n', prefix: 'p-' });
    expect(parseListProjects({ MaxResults: 0 }).maxResults).toBe(100);
    expect(() => parseListProjects({ MaxResults: '2.5' })).toThrow('Expected integer between 0 and 100 for MaxResults but received "2.5".');
  });

  it('badValue: long received values are cut to 60 characters', () => {
    expect(badValue('X', 'a thing', 'y'.repeat(100)).message).toBe(`Expected a thing for X but received "${'y'.repeat(56)}....`);
  });
});

describe('Sprites and Animations', () => {
  const targets = (image: Record<string, unknown>, extra: Params = {}): Params => ({
    ProjectName: 'p',
    Sources: [{ URI: 'oss://bkt/v.mp4' }],
    Targets: [{ Image: image }],
    ...extra,
  });
  const parse = (image: Record<string, unknown>, extra: Params = {}) => parseConvertTask(targets(image, extra), LIMITS, NOW);

  it('a sprite: IMM defaults (6×6 tiles, Pad 2, Margin 2, source-size tiles), the snapshot frame selection', () => {
    const { sprites, snapshots, animations } = parse({ Sprites: [{ Format: 'png', URI: 'oss://bkt/s-{index}.png' }] });
    expect(snapshots).toEqual([]);
    expect(animations).toEqual([]);
    expect(sprites[0]).toMatchObject({
      kind: 'sprite', field: 'Targets[0].Image.Sprites[0]', format: 'png', startTime: 0, interval: 1, number: 0, mode: 'interval', threshold: undefined,
      width: undefined, height: undefined, scaleType: 'stretch', columns: 6, rows: 6, pad: 2, margin: 2,
    });
  });

  it('ScaleWidth/ScaleHeight: integers above 1 are pixels, (0, 1] fractions (1 = the source size)', () => {
    const sprite = (fields: Record<string, unknown>) => parse({ Sprites: [{ Format: 'jpg', URI: 'oss://bkt/{index}.jpg', ...fields }] }).sprites[0]!;
    expect(sprite({ ScaleWidth: 160, ScaleHeight: '0.5' })).toMatchObject({ width: { pixels: 160 }, height: { fraction: 0.5 } });
    expect(sprite({ ScaleWidth: 1 })).toMatchObject({ width: { fraction: 1 } });
    expect(sprite({ Mode: 'dhash', Threshold: 20, TileWidth: 10, TileHeight: 1, Pad: 0, Margin: 0 })).toMatchObject({ mode: 'dhash', threshold: 20, columns: 10, rows: 1, pad: 0, margin: 0 });
    expect(() => sprite({ ScaleHeight: 0 })).toThrow('Expected integer between 2 and 4096 (pixels) or a decimal in (0, 1] (fraction of the source) for Targets[0].Image.Sprites[0].ScaleHeight but received 0.');
  });

  it('a sprite of one sheet needs no {index}; the sheet a pixel tile size makes is checked at submit', () => {
    expect(parse({ Sprites: [{ Format: 'jpg', Number: 36, URI: 'oss://bkt/one.jpg' }] }).sprites).toHaveLength(1);
    expect(parse({ Sprites: [{ Format: 'jpg', Number: 4, TileWidth: 2, TileHeight: 2, URI: 'oss://bkt/one.jpg' }] }).sprites).toHaveLength(1);
    expect(() => parse({ Sprites: [{ Format: 'jpg', Number: 5, TileWidth: 2, TileHeight: 2, URI: 'oss://bkt/one.jpg' }] })).toThrow(/must contain \{index\}/);
    // 4 × 4096 + 2 × 2 + 3 × 2 = 16394 > 16384; one row of them fits in height.
    expect(() => parse({ Sprites: [{ Format: 'jpg', Number: 4, ScaleWidth: 4096, TileWidth: 4, URI: 'oss://bkt/w.jpg' }] })).toThrow(
      'Targets[0].Image.Sprites[0]: a sheet of these tiles would be 16394 px wide, above the jpg limit of 16384 px a side: lower TileWidth/TileHeight, ScaleWidth/ScaleHeight, Pad or Margin.',
    );
    expect(parse({ Sprites: [{ Format: 'jpg', Number: 4, ScaleWidth: 4000, ScaleHeight: 4000, TileWidth: 4, URI: 'oss://bkt/w.jpg' }] }).sprites[0]!.columns).toBe(4);
    // 4 × 4095 + 2 × 2 = 16384: a JPEG sheet, not a WebP one (16383 at most).
    const wide = { Number: 4, ScaleWidth: 4095, TileWidth: 4, Pad: 0, Margin: 2 };
    expect(parse({ Sprites: [{ Format: 'jpg', URI: 'oss://bkt/w.jpg', ...wide }] }).sprites).toHaveLength(1);
    expect(() => parse({ Sprites: [{ Format: 'webp', URI: 'oss://bkt/w.webp', ...wide }] })).toThrow(/would be 16384 px wide, above the webp limit of 16383 px a side/);
  });

  it('an animation: interval frames, FrameRate absent (real time), one file', () => {
    const [animation] = parse({ Animations: [{ Format: 'webp', URI: 'oss://bkt/a.webp', Interval: 0.5, Number: 100, Width: 0.5 }] }).animations;
    expect(animation).toMatchObject({ kind: 'animation', format: 'webp', mode: 'interval', interval: 0.5, number: 100, frameRate: undefined, width: { fraction: 0.5 }, height: undefined, scaleType: 'stretch' });
    expect(() => parse({ Animations: [{ Format: 'gif', URI: 'oss://bkt/a.gif', Threshold: 3 }] })).toThrow(/unknown field "Threshold"/);
  });

  it('every kind counts towards the known frame cap, and no two specs may share names', () => {
    expect(() =>
      parse({ Snapshots: [{ Format: 'jpg', Number: 50, URI: 'oss://bkt/s{index}.jpg' }], Sprites: [{ Format: 'jpg', Number: 40, URI: 'oss://bkt/t{index}.jpg' }], Animations: [{ Format: 'gif', Number: 11, URI: 'oss://bkt/a.gif' }] }),
    ).toThrow('The task asks for 101 frames, above the limit of 100 frames per task.');
    expect(() => parse({ Snapshots: [{ Format: 'jpg', Number: 1, URI: 'oss://bkt/x.jpg' }], Animations: [{ Format: 'gif', Number: 2, URI: 'oss://bkt/x.jpg' }] })).toThrow(
      'Targets[0].Image.Animations[0] of Sources[0] and Targets[0].Image.Snapshots[0] of Sources[0] would write the same objects (oss://bkt/x.jpg, …): give their URIs different names.',
    );
  });

  it('{autoext} is the sheet or animation format', () => {
    const request = parse({ Sprites: [{ Format: 'png', Number: 1, URI: 'oss://bkt/{barename}-sprite.{autoext}' }], Animations: [{ Format: 'gif', URI: 'oss://bkt/{barename}.{autoext}' }] });
    const context = { index: 1, createdAt: NOW, sourceModified: NOW, tags: {} };
    expect(outputUri(request.sprites[0]!, request.sources[0]!, context).uri).toBe('oss://bkt/v-sprite.png');
    expect(outputUri(request.animations[0]!, request.sources[0]!, context).uri).toBe('oss://bkt/v.gif');
  });
});
