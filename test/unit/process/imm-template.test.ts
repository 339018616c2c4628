// IMM output URI templates (src/process/imm-template.ts): parsed once at submit time ({{ and }} escape
// braces, unknown variables and missing tags are refused naming the field), rendered per output; the
// variables of the source object, of times and of tags; oss:// URIs and the object they name.
import { describe, expect, it } from 'vitest';
import { AppError } from '../../../src/errors.js';
import {
  outputObject, parseOssUri, parseTemplate, renderTemplate, sourceVariables, tagVariables, TEMPLATE_VARIABLES, timeVariables,
} from '../../../src/process/imm-template.js';

function refusal(text: string, tags: Record<string, string> = {}): string {
  try {
    parseTemplate(text, 'URI', tags);
  } catch (err) {
    if (err instanceof AppError && err.status === 400 && err.code === 'InvalidArgument') return err.message;
    throw err;
  }
  throw new Error(`expected ${text} to be refused`);
}

describe('parseTemplate', () => {
  it('splits literals and variables, and lists the variables used', () => {
    const t = parseTemplate('oss://{bucket}/out/{barename}-{index}.{autoext}', 'URI');
    expect(t.parts).toEqual([
      { literal: 'oss://' }, { variable: 'bucket' }, { literal: '/out/' }, { variable: 'barename' }, { literal: '-' }, { variable: 'index' }, { literal: '.' }, { variable: 'autoext' },
    ]);
    expect([...t.variables]).toEqual(['bucket', 'barename', 'index', 'autoext']);
    expect(t.text).toBe('oss://{bucket}/out/{barename}-{index}.{autoext}');
  });

  it('{{ and }} are literal braces; spaces inside a variable are trimmed', () => {
    const t = parseTemplate('a{{b}}c-{ index }', 'URI');
    expect(t.parts).toEqual([{ literal: 'a{b}c-' }, { variable: 'index' }]);
    expect(parseTemplate('plain', 'URI').parts).toEqual([{ literal: 'plain' }]);
    expect(parseTemplate('', 'URI').parts).toEqual([]);
  });

  it('tags.<name> is a variable when the request has that tag', () => {
    expect([...parseTemplate('{tags.team}/{index}', 'URI', { team: 'video' }).variables]).toEqual(['tags.team', 'index']);
  });

  it('refuses what it cannot render, naming the field and the position', () => {
    expect(refusal('oss://b/{index.jpg')).toBe('URI has an unclosed "{" at position 8: write "{{" for a literal brace.');
    expect(refusal('oss://b/x}.jpg')).toBe('URI has an unmatched "}" at position 9: write "}}" for a literal brace.');
    expect(refusal('oss://b/{tags.who}')).toBe('URI uses {tags.who} but Tags has no "who".');
    expect(refusal('oss://b/{Index}')).toBe(`URI uses unknown variable {Index}: expected one of ${TEMPLATE_VARIABLES.join(', ')} or tags.<name>.`);
    expect(refusal('oss://b/{}')).toMatch(/^URI uses unknown variable \{\}/);
  });
});

describe('renderTemplate', () => {
  it('fills variables from the values, an absent one as empty', () => {
    const t = parseTemplate('{dirname}/{barename}-{index}.{ext}', 'URI');
    expect(renderTemplate(t, { dirname: 'a/b', barename: 'clip', index: '7', ext: 'jpg' })).toBe('a/b/clip-7.jpg');
    expect(renderTemplate(t, { barename: 'clip', index: '7', ext: 'jpg' })).toBe('/clip-7.jpg');
  });
});

describe('template variables', () => {
  it('sourceVariables: bucket, key, dirname, basename, barename, ext', () => {
    expect(sourceVariables('bkt', 'path1/path2/name.tar.gz')).toEqual({ bucket: 'bkt', key: 'path1/path2/name.tar.gz', dirname: 'path1/path2', basename: 'name.tar.gz', barename: 'name.tar', ext: 'gz' });
    expect(sourceVariables('bkt', 'clip')).toEqual({ bucket: 'bkt', key: 'clip', dirname: '', basename: 'clip', barename: 'clip', ext: '' });
    // A dot-file has no extension.
    expect(sourceVariables('bkt', 'a/.hidden')).toMatchObject({ basename: '.hidden', barename: '.hidden', ext: '' });
  });

  it('timeVariables: UTC, zero-padded, under the object\'s or the task\'s prefix', () => {
    const at = new Date('2024-03-05T06:07:08.999Z');
    expect(timeVariables('', at)).toEqual({ year: '2024', mon: '03', day: '05', hour: '06', min: '07', sec: '08' });
    expect(timeVariables('t_', at)).toEqual({ t_year: '2024', t_mon: '03', t_day: '05', t_hour: '06', t_min: '07', t_sec: '08' });
  });

  it('tagVariables: tags.<name>', () => {
    expect(tagVariables({ team: 'video', 'a-b': 'x' })).toEqual({ 'tags.team': 'video', 'tags.a-b': 'x' });
  });
});

describe('oss:// URIs', () => {
  it('parseOssUri: bucket and key (slashes kept), or nothing', () => {
    expect(parseOssUri('oss://bkt/a/b/c.jpg')).toEqual({ bucket: 'bkt', key: 'a/b/c.jpg' });
    expect(parseOssUri('oss://bkt/')).toBeUndefined();
    expect(parseOssUri('oss://bkt')).toBeUndefined();
    expect(parseOssUri('s3://bkt/k')).toBeUndefined();
  });

  it('outputObject: an empty {dirname} leaves no empty path segment', () => {
    expect(outputObject('oss://out//clip-1.jpg')).toEqual({ bucket: 'out', key: 'clip-1.jpg' });
    expect(outputObject('oss://out/a//b///c.jpg')).toEqual({ bucket: 'out', key: 'a/b/c.jpg' });
    expect(outputObject('oss://out/a/b.jpg')).toEqual({ bucket: 'out', key: 'a/b.jpg' });
    expect(outputObject('oss://out//')).toBeUndefined();
    expect(outputObject('https://out/a.jpg')).toBeUndefined();
  });
});
