// The README's examples work as written: `stillframe serve` with its sample media (as `npm start` makes
// them), then every `curl` GET of the README's code blocks (and of docs/images.md and docs/previews.md)
// answered 200 with an image, a storyboard or JSON — the first thing a newcomer runs. The README's IMM
// task (`-d '{…}'`) is submitted as written first, and its `$TASK` is that task's id.
import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startServe, stopAll, tempDir, type Node } from '../support/processes.js';

const ROOT = resolve(import.meta.dirname, '../..');
let node: Node;

/** The URLs of the `curl` lines (GETs: no -d, no -X) in a page's ```sh blocks, with $B or the default address. */
function curlUrls(page: string): string[] {
  const text = readFileSync(join(ROOT, page), 'utf8');
  const blocks = [...text.matchAll(/```sh\n([\s\S]*?)```/g)].map((m) => m[1]!);
  const urls: string[] = [];
  for (const line of blocks.join('\n').split('\n')) {
    if (!/^curl\b/.test(line.trim()) || /\s-(d|X)\b/.test(line)) continue;
    const quoted = /["']((?:\$B|http:\/\/127\.0\.0\.1:8080)[^"']*)["']/.exec(line)?.[1];
    if (quoted) urls.push(quoted.replace(/^(\$B|http:\/\/127\.0\.0\.1:8080)/, ''));
  }
  return urls;
}

const PAGES = ['README.md', 'docs/images.md', 'docs/previews.md'];
let taskId = '';

beforeAll(async () => {
  node = await startServe({ STILLFRAME_STORAGE: `file://${await tempDir('readme')}`, STILLFRAME_DEMO: 'true' });
  const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');
  const body = /-d '(\{[\s\S]*?\})'/.exec(readme)?.[1];
  expect(body, 'the README submits a task with -d').toBeDefined();
  const submitted = await fetch(`${node.url}/?Action=CreateMediaConvertTask`, { method: 'POST', headers: { 'content-type': 'application/json' }, body });
  taskId = ((await submitted.json()) as { TaskId: string }).TaskId;
  for (let status = 'Running'; status === 'Running'; await new Promise((r) => setTimeout(r, 100))) {
    const got = await fetch(`${node.url}/?Action=GetTask&ProjectName=test-project&TaskType=MediaConvert&TaskId=${taskId}`);
    status = ((await got.json()) as { Status: string }).Status;
    if (status !== 'Running') expect(status).toBe('Succeeded');
  }
}, 300_000);
afterAll(stopAll);

describe.each(PAGES)('%s', (page) => {
  it('has curl examples', () => {
    expect(curlUrls(page).length).toBeGreaterThan(0);
  });

  it('every curl GET answers 200 with what it names', async () => {
    for (const path of curlUrls(page)) {
      const res = await fetch(`${node.url}${path.replace('$TASK', taskId)}`);
      const body = await res.arrayBuffer();
      expect(res.status, `${path}: ${Buffer.from(body).toString().slice(0, 300)}`).toBe(200);
      expect(res.headers.get('content-type'), path).toMatch(/^(image\/|text\/vtt|application\/json)/);
    }
  }, 120_000);
});
