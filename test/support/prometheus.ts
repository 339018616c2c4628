// A strict parser of the Prometheus text exposition format (0.0.4), as a scraper reads /_/metrics: every
// rule a scraper relies on fails loudly (names, TYPE/HELP once and before samples, label escapes,
// duplicate series, values, histogram buckets cumulative up to +Inf = _count).
import { expect } from 'vitest';

export interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}
export interface Family {
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
export function parseExposition(text: string): Map<string, Family> {
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

/** The value of sample `name` (a family member such as x_bucket too) whose labels include `labels`. */
export const sampleValue = (families: Map<string, Family>, name: string, labels: Record<string, string> = {}) =>
  families.get(name.replace(/_(bucket|sum|count)$/, ''))?.samples.find((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v))?.value;
