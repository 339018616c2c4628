// A small Prometheus registry: counters, gauges read at scrape time, and histograms. Enough for the
// text exposition format; no global state, one registry per app.

type Labels = Record<string, string>;

const labelText = (labels: Labels) => {
  const entries = Object.entries(labels);
  return entries.length ? `{${entries.map(([k, v]) => `${k}="${v.replace(/["\\\n]/g, '_')}"`).join(',')}}` : '';
};

export interface Counter {
  inc(labels?: Labels, by?: number): void;
  value(labels?: Labels): number;
}

export interface Histogram {
  observe(value: number, labels?: Labels): void;
}

export interface Metrics {
  counter(name: string, help: string): Counter;
  histogram(name: string, help: string, buckets: number[]): Histogram;
  gauge(name: string, help: string, read: () => number): void;
  render(): string;
}

export function createMetrics(): Metrics {
  const blocks: (() => string)[] = [];

  return {
    counter(name, help) {
      const values = new Map<string, number>();
      blocks.push(() =>
        [`# HELP ${name} ${help}`, `# TYPE ${name} counter`, ...[...values].map(([l, v]) => `${name}${l} ${v}`)].join('\n'),
      );
      return {
        inc(labels = {}, by = 1) {
          const key = labelText(labels);
          values.set(key, (values.get(key) ?? 0) + by);
        },
        value(labels = {}) {
          return values.get(labelText(labels)) ?? 0;
        },
      };
    },
    histogram(name, help, buckets) {
      const series = new Map<string, { labels: Labels; counts: number[]; sum: number; count: number }>();
      blocks.push(() => {
        const lines = [`# HELP ${name} ${help}`, `# TYPE ${name} histogram`];
        for (const { labels, counts, sum, count } of series.values()) {
          buckets.forEach((le, i) => lines.push(`${name}_bucket${labelText({ ...labels, le: String(le) })} ${counts[i]}`));
          lines.push(`${name}_bucket${labelText({ ...labels, le: '+Inf' })} ${count}`);
          lines.push(`${name}_sum${labelText(labels)} ${sum}`, `${name}_count${labelText(labels)} ${count}`);
        }
        return lines.join('\n');
      });
      return {
        observe(value, labels = {}) {
          const key = labelText(labels);
          let s = series.get(key);
          if (!s) series.set(key, (s = { labels, counts: buckets.map(() => 0), sum: 0, count: 0 }));
          buckets.forEach((le, i) => {
            if (value <= le) s.counts[i]!++;
          });
          s.sum += value;
          s.count++;
        },
      };
    },
    gauge(name, help, read) {
      blocks.push(() => `# HELP ${name} ${help}\n# TYPE ${name} gauge\n${name} ${read()}`);
    },
    render() {
      return blocks.map((b) => b()).join('\n') + '\n';
    },
  };
}
