// /_/metrics as Prometheus reads it: the whole scrape through a strict parser of the text exposition
// format (0.0.4), then the Node/process defaults, the project's metrics, histograms and label escaping.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createMetrics } from '../../../src/core/metrics.js';
import { startServer, type TestServer } from '../../support/server.js';

interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}
interface Family {
  name: string;
  type: string;
  help: string;
  samples: Sample[];
}

const NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
const LABEL = /^[a-zA-Z_][a-zA-Z0-9_]*$/;
const TYPES = new Set(['counter', 'gauge', 'histogram', 'summary', 'untyped']);

/** As Go's strconv.ParseFloat, which the format names: special values ignore case (prom-client writes "Nan"). */
function parseValue(raw: string, line: string): number {
  if (/^\+?inf(inity)?$/i.test(raw)) return Infinity;
  if (/^-inf(inity)?$/i.test(raw)) return -Infinity;
  if (/^nan$/i.test(raw)) return NaN;
  if (!/^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/.test(raw)) throw new Error(`bad value "${raw}" in: ${line}`);
  return Number(raw);
}

/** Unescapes a HELP docstring: only \\ and \n are escapes there. */
function unescapeHelp(text: string, line: string): string {
  return text.replace(/\\(.?)/g, (_, c: string) => {
    if (c === '\\') return '\\';
    if (c === 'n') return '\n';
    throw new Error(`bad escape in HELP: ${line}`);
  });
}

/** Strict: every rule of the format that a scraper relies on fails loudly. */
function parseExposition(text: string): Map<string, Family> {
  if (!text.endsWith('\n')) throw new Error('the exposition must end with a newline');
  const families = new Map<string, Family>();
  const seriesSeen = new Set<string>();
  const familyOf = (sampleName: string) => {
    for (const suffix of ['', '_bucket', '_sum', '_count']) {
      if (suffix && !sampleName.endsWith(suffix)) continue;
      const base = sampleName.slice(0, sampleName.length - suffix.length);
      const family = families.get(base);
      if (family && (suffix === '' || family.type === 'histogram' || (family.type === 'summary' && suffix !== '_bucket'))) return family;
    }
    throw new Error(`sample ${sampleName} has no # TYPE before it`);
  };
  for (const line of text.slice(0, -1).split('\n')) {
    if (line === '') continue;
    if (line.startsWith('#')) {
      const m = /^# (HELP|TYPE) (\S+) ?(.*)$/.exec(line);
      if (!m) continue; // other comments are allowed
      const [, kind, name, rest] = m as unknown as [string, string, string, string];
      if (!NAME.test(name)) throw new Error(`bad metric name: ${line}`);
      const family = families.get(name) ?? { name, type: '', help: '', samples: [] };
      if (family.samples.length) throw new Error(`${kind} after samples of ${name}`);
      if (kind === 'TYPE') {
        if (family.type) throw new Error(`second TYPE for ${name}`);
        if (!TYPES.has(rest)) throw new Error(`bad type: ${line}`);
        family.type = rest;
      } else {
        if (family.help) throw new Error(`second HELP for ${name}`);
        family.help = unescapeHelp(rest, line);
      }
      families.set(name, family);
      continue;
    }
    // name{label="value",...} value [timestamp]
    const nameMatch = /^[a-zA-Z_:][a-zA-Z0-9_:]*/.exec(line);
    if (!nameMatch) throw new Error(`bad sample line: ${line}`);
    const name = nameMatch[0];
    let i = name.length;
    const labels: Record<string, string> = {};
    if (line[i] === '{') {
      i++;
      while (line[i] !== '}') {
        const labelMatch = /^[^=]*/.exec(line.slice(i))!;
        const label = labelMatch[0];
        if (!LABEL.test(label) || label.startsWith('__')) throw new Error(`bad label name "${label}": ${line}`);
        i += label.length;
        if (line[i] !== '=' || line[i + 1] !== '"') throw new Error(`expected ="…" after ${label}: ${line}`);
        i += 2;
        let value = '';
        for (;;) {
          const c = line[i];
          if (c === undefined) throw new Error(`unterminated label value: ${line}`);
          if (c === '"') break;
          if (c === '\\') {
            const e = line[i + 1];
            if (e === '\\') value += '\\';
            else if (e === '"') value += '"';
            else if (e === 'n') value += '\n';
            else throw new Error(`bad escape \\${e} in label value: ${line}`);
            i += 2;
          } else {
            value += c;
            i++;
          }
        }
        i++; // closing quote
        if (Object.hasOwn(labels, label)) throw new Error(`label ${label} twice: ${line}`);
        labels[label] = value;
        if (line[i] === ',') i++;
        else if (line[i] !== '}') throw new Error(`expected , or } after a label: ${line}`);
      }
      i++;
    }
    if (line[i] !== ' ') throw new Error(`expected a space before the value: ${line}`);
    const [rawValue, timestamp, ...extra] = line.slice(i + 1).split(' ');
    if (extra.length || (timestamp !== undefined && !/^-?\d+$/.test(timestamp))) throw new Error(`bad value/timestamp: ${line}`);
    const family = familyOf(name);
    const series = `${name}${JSON.stringify(Object.entries(labels).sort())}`;
    if (seriesSeen.has(series)) throw new Error(`duplicate series: ${line}`);
    seriesSeen.add(series);
    family.samples.push({ name, labels, value: parseValue(rawValue!, line) });
  }
  for (const family of families.values()) if (!family.type) throw new Error(`${family.name} has HELP but no TYPE`);
  checkHistograms(families);
  return families;
}

/** Buckets carry `le`, are cumulative, end with +Inf = _count; every series has _sum and _count. */
function checkHistograms(families: Map<string, Family>) {
  for (const family of families.values()) {
    if (family.type !== 'histogram') continue;
    const bySeries = new Map<string, { buckets: [number, number][]; sum?: number; count?: number }>();
    for (const s of family.samples) {
      const { le, ...rest } = s.labels;
      const key = JSON.stringify(Object.entries(rest).sort());
      const series = bySeries.get(key) ?? { buckets: [] };
      bySeries.set(key, series);
      if (s.name.endsWith('_bucket')) {
        if (le === undefined) throw new Error(`${s.name} without le`);
        series.buckets.push([parseValue(le, le), s.value]);
      } else if (s.name.endsWith('_sum')) series.sum = s.value;
      else if (s.name.endsWith('_count')) series.count = s.value;
    }
    for (const [key, series] of bySeries) {
      const where = `${family.name}${key}`;
      expect(series.sum, `${where} _sum`).toBeDefined();
      expect(series.count, `${where} _count`).toBeDefined();
      const les = series.buckets.map(([le]) => le);
      expect(les, `${where} le order`).toEqual([...les].sort((a, b) => a - b));
      expect(les.at(-1), `${where} ends with +Inf`).toBe(Infinity);
      const counts = series.buckets.map(([, n]) => n);
      expect(counts, `${where} cumulative`).toEqual([...counts].sort((a, b) => a - b));
      expect(counts.at(-1), `${where} +Inf = _count`).toBe(series.count);
    }
  }
}

const value = (families: Map<string, Family>, name: string, labels: Record<string, string> = {}) =>
  families.get(name.replace(/_(bucket|sum|count)$/, ''))?.samples.find((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v))?.value;

describe('the parser itself', () => {
  it('refuses what the format forbids', () => {
    expect(() => parseExposition('a 1\n')).toThrow(/no # TYPE/);
    expect(() => parseExposition('# TYPE a counter\na{x="\\t"} 1\n')).toThrow(/bad escape/);
    expect(() => parseExposition('# TYPE a counter\na{x="1"} 1\na{x="1"} 2\n')).toThrow(/duplicate/);
    expect(() => parseExposition('# TYPE a counter\na{x="1} 1\n')).toThrow(/unterminated|expected/);
    expect(() => parseExposition('# TYPE a counter\na 1x\n')).toThrow(/bad value/);
    expect(() => parseExposition('# TYPE a counter\n# TYPE a gauge\n')).toThrow(/second TYPE/);
    expect(() => parseExposition('# TYPE a counter\na 1')).toThrow(/newline/);
    expect(parseExposition('# HELP a x\\ny\n# TYPE a gauge\na{b="q\\"\\\\\\n"} -Inf 123\n').get('a')).toMatchObject({
      help: 'x\ny',
      samples: [{ labels: { b: 'q"\\\n' }, value: -Infinity }],
    });
  });
});

describe('/_/metrics', () => {
  let server: TestServer;
  let families: Map<string, Family>;
  const tricky = 'a "quoted" back\\slash\nand a newline';

  beforeAll(async () => {
    server = await startServer({ objects: { 'media/a.bin': Buffer.from('hello') } });
    // Traffic for the request metrics, and a label value that needs every escape.
    await (await fetch(`${server.url}/media/a.bin`)).arrayBuffer();
    await (await fetch(`${server.url}/media/missing.bin`)).arrayBuffer();
    await (await fetch(`${server.url}/media/missing.mp4?x-oss-process=video/snapshot,t_0`)).arrayBuffer();
    server.deps.metrics.counter('stillframe_test_escapes_total', 'A label value with a quote, a backslash and a newline', ['value']).inc({ value: tricky });
    const res = await fetch(`${server.url}/_/metrics`);
    expect(res.headers.get('content-type')).toBe('text/plain; version=0.0.4; charset=utf-8');
    families = parseExposition(await res.text());
  });
  afterAll(() => server?.close());

  it("prom-client's Node and process metrics", () => {
    for (const [name, type] of [
      ['process_cpu_user_seconds_total', 'counter'],
      ['process_cpu_system_seconds_total', 'counter'],
      ['process_resident_memory_bytes', 'gauge'],
      ['process_open_fds', 'gauge'],
      ['process_max_fds', 'gauge'],
      ['process_start_time_seconds', 'gauge'],
      ['nodejs_eventloop_lag_seconds', 'gauge'],
      ['nodejs_eventloop_lag_p99_seconds', 'gauge'],
      ['nodejs_heap_size_used_bytes', 'gauge'],
      ['nodejs_heap_space_size_used_bytes', 'gauge'],
      ['nodejs_gc_duration_seconds', 'histogram'],
      ['nodejs_active_handles_total', 'gauge'],
      ['nodejs_version_info', 'gauge'],
    ]) {
      expect(families.get(name!)?.type, name).toBe(type);
    }
    expect(value(families, 'process_open_fds')).toBeGreaterThan(0);
    expect(value(families, 'nodejs_heap_size_used_bytes')).toBeGreaterThan(1e6);
  });

  it("the project's metrics, under their existing names", () => {
    const expected: Record<string, string> = {
      stillframe_http_requests_total: 'counter',
      stillframe_http_request_duration_seconds: 'histogram',
      stillframe_snapshot_seconds: 'histogram',
      stillframe_storage_seconds: 'histogram',
      stillframe_cache_lookups_total: 'counter',
      stillframe_worker_jobs_total: 'counter',
      stillframe_worker_job_seconds: 'histogram',
      stillframe_worker_restarts_total: 'counter',
      stillframe_workers_busy: 'gauge',
      stillframe_origin_reads_total: 'counter',
      stillframe_origin_read_bytes_total: 'counter',
      stillframe_block_cache_bytes: 'gauge',
      stillframe_captures_active: 'gauge',
      stillframe_captures_queued: 'gauge',
      stillframe_image_cache_bytes: 'gauge',
      stillframe_tasks_running: 'gauge',
      stillframe_tasks_queued: 'gauge',
    };
    for (const [name, type] of Object.entries(expected)) expect(families.get(name)?.type, name).toBe(type);
    expect(value(families, 'stillframe_http_requests_total', { route: 'object', method: 'GET', status: '200' })).toBe(1);
    expect(value(families, 'stillframe_http_requests_total', { route: 'object', method: 'GET', status: '404' })).toBe(1);
    expect(value(families, 'stillframe_http_requests_total', { route: 'snapshot', method: 'GET', status: '404' })).toBe(1);
    expect(value(families, 'stillframe_http_request_duration_seconds_count', { route: 'object' })).toBe(2);
    // The plain GETs stat the store: storage latency, by operation and outcome.
    expect(value(families, 'stillframe_storage_seconds_count', { op: 'stat', outcome: 'ok' })).toBeGreaterThanOrEqual(1);
    expect(value(families, 'stillframe_storage_seconds_count', { op: 'stat', outcome: 'error' })).toBeGreaterThanOrEqual(2);
    expect(value(families, 'stillframe_origin_reads_total')).toBe(0);
  });

  it('label values are escaped: a quote, a backslash and a newline come back intact', () => {
    const family = families.get('stillframe_test_escapes_total')!;
    expect(family.help).toBe('A label value with a quote, a backslash and a newline');
    expect(family.samples).toEqual([{ name: 'stillframe_test_escapes_total', labels: { value: tricky }, value: 1 }]);
  });
});

describe('registries', () => {
  it('several apps in one process each have their own metrics; one name twice is one metric', async () => {
    const a = createMetrics();
    const b = createMetrics();
    a.counter('stillframe_x_total', 'x', ['k']).inc({ k: 'v' });
    a.counter('stillframe_x_total', 'x', ['k']).inc({ k: 'v' }, 2);
    b.counter('stillframe_x_total', 'x', ['k']).inc({ k: 'v' });
    const fa = parseExposition(await a.render());
    const fb = parseExposition(await b.render());
    expect(value(fa, 'stillframe_x_total', { k: 'v' })).toBe(3);
    expect(value(fb, 'stillframe_x_total', { k: 'v' })).toBe(1);
    // The process's defaults appear once in each scrape.
    expect(fa.get('process_cpu_user_seconds_total')).toBeDefined();
  });

  it('metrics declared without label names take them from their first use', async () => {
    const m = createMetrics({ defaults: false });
    const c = m.counter('stillframe_lazy_total', 'lazy');
    // Declared (HELP, TYPE) but without a series until it is used.
    expect(parseExposition(await m.render()).get('stillframe_lazy_total')).toMatchObject({ type: 'counter', samples: [] });
    c.inc({ tool: 'ffmpeg' });
    c.inc({ tool: 'ffmpeg' });
    const h = m.histogram('stillframe_lazy_seconds', 'lazy', [0.1, 1]);
    h.observe(0.5, { op: 'stat' });
    const unlabelled = m.counter('stillframe_plain_total', 'plain', []);
    unlabelled.inc();
    const families = parseExposition(await m.render());
    expect(value(families, 'stillframe_lazy_total', { tool: 'ffmpeg' })).toBe(2);
    expect(value(families, 'stillframe_lazy_seconds_bucket', { op: 'stat', le: '1' })).toBe(1);
    expect(value(families, 'stillframe_lazy_seconds_bucket', { op: 'stat', le: '0.1' })).toBe(0);
    expect(value(families, 'stillframe_plain_total')).toBe(1);
  });
});
