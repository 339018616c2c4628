// Prometheus metrics over prom-client: one Registry per app (several apps run in one test process, so
// nothing goes to prom-client's global registry), plus one per process for the Node/process defaults
// (CPU, memory, heap, GC, event-loop lag, file descriptors) — they describe the process, not an app.
// Call sites keep a small interface: counter(name, help) → inc(labels?, by?), histogram(...) →
// observe(value, labels?), gauge(name, help, read) read at scrape time, render() for /_/metrics.
// prom-client's registry writes the text format, label values escaped (\\, ", newline).
import { collectDefaultMetrics, Gauge as PromGauge, Registry, type Counter as PromCounter } from 'prom-client';

type Labels = Record<string, string>;

export interface Counter {
  inc(labels?: Labels, by?: number): void;
}

export interface Histogram {
  observe(value: number, labels?: Labels): void;
}

export interface Metrics {
  /** `labelNames`: the labels every inc() passes; omitted = taken from the first inc(). */
  counter(name: string, help: string, labelNames?: readonly string[]): Counter;
  histogram(name: string, help: string, buckets: number[], labelNames?: readonly string[]): Histogram;
  gauge(name: string, help: string, read: () => number): void;
  /** The Prometheus text exposition: the process's default metrics, then the app's. */
  render(): Promise<string>;
  readonly contentType: string;
  /** The app's prom-client registry (defaults excluded). */
  readonly registry: Registry;
}

/** Latency buckets in seconds, from a cached hit (sub-millisecond) to a slow capture. */
export const LATENCY_BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];

let processRegistry: Registry | undefined;

/** Node and process metrics, collected once per process whatever the number of apps. */
function defaultsRegistry(): Registry {
  if (!processRegistry) {
    processRegistry = new Registry();
    collectDefaultMetrics({ register: processRegistry });
  }
  return processRegistry;
}

// Counters and histograms count in plain JavaScript and hand their series to the registry at scrape
// time: prom-client's own inc()/observe() validate and hash the labels on every call (~1 us each, five
// times per cached hit). The registry still does the rest — types, help, label escaping, the format.
interface Sample {
  labels: Labels;
  value: number;
  metricName?: string;
}

type Series = { labels: Labels; counts: number[]; sum: number; count: number };

/**
 * One metric's series by label values. Label names are given up front, or taken from the first use
 * (call sites written before prom-client pass none); an unlabelled metric has its one series from the
 * start, a labelled one appears with its first series.
 */
class SeriesMap {
  private names: readonly string[] | undefined;
  readonly series = new Map<string, Series>();
  constructor(
    labelNames: readonly string[] | undefined,
    private readonly buckets: number,
  ) {
    this.names = labelNames;
    if (labelNames?.length === 0) this.get(undefined);
  }
  get(labels: Labels | undefined): Series {
    this.names ??= labels ? Object.keys(labels) : [];
    const names = this.names;
    let key = '';
    if (labels) for (const name of names) key += `${labels[name]}\u0001`;
    let s = this.series.get(key);
    if (!s) {
      const own: Labels = {};
      for (const name of names) if (labels?.[name] !== undefined) own[name] = String(labels[name]);
      s = { labels: own, counts: new Array<number>(this.buckets).fill(0), sum: 0, count: 0 };
      this.series.set(key, s);
    }
    return s;
  }
}

function collector(name: string, help: string, type: 'counter' | 'histogram', samples: () => Sample[]) {
  const metric = {
    name,
    help,
    type,
    aggregator: 'sum',
    labelNames: [] as string[],
    async get() {
      return { name, help, type, aggregator: 'sum', values: samples() };
    },
    reset() {},
  };
  // A collector object as prom-client's registry reads metrics (name, help, type, get()).
  return metric as unknown as PromCounter;
}

export function createMetrics(options: { defaults?: boolean } = {}): Metrics {
  const registry = new Registry();
  const withDefaults = options.defaults ?? true;
  if (withDefaults) defaultsRegistry();
  // The same name twice (two apps over one deps, a service built twice) is the same metric.
  const known = new Map<string, unknown>();
  const once = <T>(name: string, make: () => T): T => {
    if (!known.has(name)) known.set(name, make());
    return known.get(name) as T;
  };

  return {
    registry,
    contentType: registry.contentType,
    counter(name, help, labelNames) {
      return once(name, () => {
        const map = new SeriesMap(labelNames, 0);
        registry.registerMetric(collector(name, help, 'counter', () => [...map.series.values()].map((s) => ({ labels: s.labels, value: s.sum }))));
        return {
          inc(labels?: Labels, by = 1) {
            if (!(by >= 0)) throw new Error(`${name}: a counter only goes up (got ${by})`);
            map.get(labels).sum += by;
          },
        };
      });
    },
    histogram(name, help, buckets, labelNames) {
      return once(name, () => {
        const bounds = [...buckets].sort((a, b) => a - b);
        const map = new SeriesMap(labelNames, bounds.length);
        const samples = () => {
          const out: Sample[] = [];
          for (const s of map.series.values()) {
            let cumulative = 0;
            bounds.forEach((le, i) => {
              cumulative += s.counts[i]!;
              out.push({ labels: { ...s.labels, le: String(le) }, value: cumulative, metricName: `${name}_bucket` });
            });
            out.push(
              { labels: { ...s.labels, le: '+Inf' }, value: s.count, metricName: `${name}_bucket` },
              { labels: s.labels, value: s.sum, metricName: `${name}_sum` },
              { labels: s.labels, value: s.count, metricName: `${name}_count` },
            );
          }
          return out;
        };
        registry.registerMetric(collector(name, help, 'histogram', samples));
        return {
          observe(value: number, labels?: Labels) {
            if (!Number.isFinite(value)) throw new TypeError(`${name}: not a finite number: ${value}`);
            const s = map.get(labels);
            let i = 0;
            while (i < bounds.length && value > bounds[i]!) i++;
            if (i < bounds.length) s.counts[i]!++;
            s.sum += value;
            s.count++;
          },
        };
      });
    },
    gauge(name, help, read) {
      once(name, () => new PromGauge({ name, help, registers: [registry], collect() { this.set(read()); } }));
    },
    async render() {
      const own = await registry.metrics();
      return withDefaults ? `${await defaultsRegistry().metrics()}\n${own}` : own;
    },
  };
}
