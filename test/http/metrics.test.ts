// /_/metrics as Prometheus reads it, against a real server: the whole scrape through the strict parser of
// the text exposition format (test/support/prometheus.ts), then the Node/process defaults, the project's
// metrics under their names, histograms and label escaping.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Family, parseExposition, sampleValue as value } from '../support/prometheus.js';
import { startServer, type TestServer } from '../support/server.js';

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
