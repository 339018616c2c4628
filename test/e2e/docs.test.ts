// The documentation against the code and against itself: docs/configuration.md's tables are exactly what
// `npm run docs:config` writes from the settings declaration (src/config.ts), so every setting the server
// reads is documented with its real default; docs/architecture.md has a line for every module of src/;
// and every relative link in README.md, SECURITY.md and docs/*.md leads to a file that exists — and its
// #anchor to a heading of that file.
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { CONFIG_DOC, withGeneratedTables } from '../../scripts/config-doc.js';
import { SETTINGS } from '../../src/config.js';

/** The repository root: the nearest directory above this file that holds package.json. */
function repositoryRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  while (!existsSync(join(dir, 'package.json'))) dir = dirname(dir);
  return dir;
}

const ROOT = repositoryRoot();
const PAGES = ['README.md', 'SECURITY.md', ...readdirSync(join(ROOT, 'docs')).filter((f) => f.endsWith('.md')).map((f) => `docs/${f}`)];

/** Markdown without fenced code blocks: links and headings inside them are examples, not structure. */
const withoutCodeBlocks = (text: string) => text.replace(/^(```|~~~)[^\n]*\n[\s\S]*?^\1[ \t]*$/gm, '');

/** The anchor GitHub gives a heading: lower case, punctuation dropped, spaces → hyphens. */
function headingSlug(heading: string): string {
  return heading
    .replace(/\[([^\]]*)\]\([^)]*\)/g, '$1')
    .trim()
    .toLowerCase()
    .replace(/[^\p{L}\p{M}\p{N}_\- ]/gu, '')
    .replace(/ /g, '-');
}

/** Every anchor of a page, numbered as GitHub numbers repeated headings (`x`, `x-1`, `x-2`). */
function anchorsOf(text: string): Set<string> {
  const anchors = new Set<string>();
  const seen = new Map<string, number>();
  for (const m of withoutCodeBlocks(text).matchAll(/^#{1,6}[ \t]+(.+?)[ \t#]*$/gm)) {
    const base = headingSlug(m[1]!);
    const n = seen.get(base) ?? 0;
    seen.set(base, n + 1);
    anchors.add(n === 0 ? base : `${base}-${n}`);
  }
  return anchors;
}

/** Targets of inline links and images, code spans and code blocks left out. */
function linksOf(text: string): string[] {
  const prose = withoutCodeBlocks(text).replace(/`[^`\n]*`/g, '');
  return [...prose.matchAll(/!?\[[^\]\n]*\]\(<?([^)\s>]+)>?(?:\s+"[^"]*")?\)/g)].map((m) => m[1]!);
}

/** What is wrong with each relative link of a page: a missing file, or an anchor no heading has. */
function brokenLinks(page: string): string[] {
  const file = join(ROOT, page);
  const broken: string[] = [];
  for (const target of linksOf(readFileSync(file, 'utf8'))) {
    if (/^[a-z][a-z0-9+.-]*:/i.test(target)) continue; // https:, mailto:
    const hash = target.indexOf('#');
    const path = hash < 0 ? target : target.slice(0, hash);
    const anchor = hash < 0 ? undefined : decodeURIComponent(target.slice(hash + 1));
    const resolved = path ? resolve(dirname(file), decodeURIComponent(path)) : file;
    if (!existsSync(resolved)) {
      broken.push(`${target}: ${relative(ROOT, resolved)} does not exist`);
      continue;
    }
    if (anchor === undefined) continue;
    if (!resolved.endsWith('.md')) {
      broken.push(`${target}: an anchor into a file that is not markdown`);
    } else if (!anchorsOf(readFileSync(resolved, 'utf8')).has(anchor)) {
      broken.push(`${target}: no heading of ${relative(ROOT, resolved)} has the anchor #${anchor}`);
    }
  }
  return broken;
}

describe('docs/configuration.md', () => {
  const doc = readFileSync(CONFIG_DOC, 'utf8');

  it('holds the tables `npm run docs:config` generates from src/config.ts (run it after changing a setting)', () => {
    expect(doc).toBe(withGeneratedTables(doc));
  });

  it.each(Object.values(SETTINGS).map((s) => s.env))('documents %s', (env) => {
    expect(doc).toContain(`\`${env}\``);
  });
});

describe('docs/architecture.md', () => {
  const doc = readFileSync(join(ROOT, 'docs/architecture.md'), 'utf8');
  const modules = (dir: string): string[] =>
    readdirSync(join(ROOT, dir), { withFileTypes: true }).flatMap((e) =>
      e.isDirectory() ? modules(`${dir}/${e.name}`) : e.name.endsWith('.ts') ? [`${dir}/${e.name}`] : [],
    );

  it.each(modules('src'))('has a line for %s', (module) => {
    expect(doc).toContain(`| \`${module}\` |`);
  });

  it('names no module that is gone', () => {
    const named = [...doc.matchAll(/`(src\/[^`]+\.ts)`/g)].map((m) => m[1]!);
    expect(named.filter((path) => !existsSync(join(ROOT, path)))).toEqual([]);
  });
});

describe('links', () => {
  it('the pages checked include the README, SECURITY.md and the docs', () => {
    expect(PAGES).toEqual(expect.arrayContaining(['README.md', 'SECURITY.md', 'docs/configuration.md']));
  });

  it.each(PAGES)('every relative link of %s resolves (files and #anchors)', (page) => {
    expect(brokenLinks(page)).toEqual([]);
  });

  it('the checker itself: GitHub anchors, and broken links found', () => {
    expect(headingSlug('The `stillframe task` CLI')).toBe('the-stillframe-task-cli');
    expect(headingSlug('Frames, tasks & HDR (PQ/HLG)')).toBe('frames-tasks--hdr-pqhlg');
    expect(anchorsOf('# A\n## A\n```\n# not a heading\n```\n### B: c.d\n')).toEqual(new Set(['a', 'a-1', 'b-cd']));
    expect(linksOf('[a](x.md#y) `[b](code.md)` ![i](img.png) <https://e.x> [c](https://e.x)')).toEqual(['x.md#y', 'img.png', 'https://e.x']);
  });
});
