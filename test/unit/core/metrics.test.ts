// Metrics (src/core/metrics.ts): one registry per app, one metric per name, label names from the first use
// when not declared — checked through the strict exposition parser, which is tested here too. The scrape of a
// real server is test/http/metrics.test.ts.
import { describe, expect, it } from 'vitest';
import { createMetrics } from '../../../src/core/metrics.js';
import { parseExposition, sampleValue as value } from '../../support/prometheus.js';

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
