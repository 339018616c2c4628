// IMM TargetURI templates: `oss://{bucket}/{dirname}/{barename}-{index}.{autoext}`. Pure: parsed once at
// submit time (unknown variables are errors there, not at run time), rendered per output.
import { errors } from '../errors.js';

/** Variables a template may use; `tags.<name>` are looked up in the request's Tags. */
export const TEMPLATE_VARIABLES = [
  'index', 'autoext',
  'bucket', 'key', 'dirname', 'barename', 'basename', 'ext',
  'year', 'mon', 'day', 'hour', 'min', 'sec',
  't_year', 't_mon', 't_day', 't_hour', 't_min', 't_sec',
] as const;
export type TemplateVariable = (typeof TEMPLATE_VARIABLES)[number];

export type TemplatePart = { literal: string } | { variable: string };

export interface Template {
  text: string;
  parts: TemplatePart[];
  /** Names used, e.g. index, tags.custom. */
  variables: Set<string>;
}

/** `{{`/`}}` escape braces; `{name}` is a variable; anything else with a brace is an error. */
export function parseTemplate(text: string, field: string, tags: Record<string, string> = {}): Template {
  const parts: TemplatePart[] = [];
  const variables = new Set<string>();
  let literal = '';
  for (let i = 0; i < text.length; i++) {
    const ch = text[i]!;
    if (ch === '{' && text[i + 1] === '{') {
      literal += '{';
      i++;
    } else if (ch === '}' && text[i + 1] === '}') {
      literal += '}';
      i++;
    } else if (ch === '{') {
      const end = text.indexOf('}', i);
      if (end < 0) throw errors.invalidArgument(`${field} has an unclosed "{" at position ${i}: write "{{" for a literal brace.`);
      const name = text.slice(i + 1, end).trim();
      if (name.startsWith('tags.')) {
        const tag = name.slice('tags.'.length);
        if (!(tag in tags)) throw errors.invalidArgument(`${field} uses {${name}} but Tags has no "${tag}".`);
      } else if (!(TEMPLATE_VARIABLES as readonly string[]).includes(name)) {
        throw errors.invalidArgument(`${field} uses unknown variable {${name}}: expected one of ${TEMPLATE_VARIABLES.join(', ')} or tags.<name>.`);
      }
      if (literal) parts.push({ literal });
      literal = '';
      parts.push({ variable: name });
      variables.add(name);
      i = end;
    } else if (ch === '}') {
      throw errors.invalidArgument(`${field} has an unmatched "}" at position ${i}: write "}}" for a literal brace.`);
    } else {
      literal += ch;
    }
  }
  if (literal) parts.push({ literal });
  return { text, parts, variables };
}

export function renderTemplate(template: Template, values: Record<string, string>): string {
  return template.parts.map((p) => ('literal' in p ? p.literal : (values[p.variable] ?? ''))).join('');
}

const pad2 = (n: number) => String(n).padStart(2, '0');

/** Year/month/… of a time (UTC), under a prefix: '' for the object's, 't_' for the task's. */
export function timeVariables(prefix: '' | 't_', at: Date): Record<string, string> {
  return {
    [`${prefix}year`]: String(at.getUTCFullYear()),
    [`${prefix}mon`]: pad2(at.getUTCMonth() + 1),
    [`${prefix}day`]: pad2(at.getUTCDate()),
    [`${prefix}hour`]: pad2(at.getUTCHours()),
    [`${prefix}min`]: pad2(at.getUTCMinutes()),
    [`${prefix}sec`]: pad2(at.getUTCSeconds()),
  };
}

/** The source-object variables: bucket, key, dirname ("a/b"), basename ("x.mov"), barename ("x"), ext ("mov"). */
export function sourceVariables(bucket: string, key: string): Record<string, string> {
  const slash = key.lastIndexOf('/');
  const basename = key.slice(slash + 1);
  const dot = basename.lastIndexOf('.');
  return {
    bucket,
    key,
    dirname: slash < 0 ? '' : key.slice(0, slash),
    basename,
    barename: dot > 0 ? basename.slice(0, dot) : basename,
    ext: dot > 0 ? basename.slice(dot + 1) : '',
  };
}

export function tagVariables(tags: Record<string, string>): Record<string, string> {
  return Object.fromEntries(Object.entries(tags).map(([k, v]) => [`tags.${k}`, v]));
}

/** `oss://bucket/key` → parts; the key keeps its slashes. */
export function parseOssUri(uri: string): { bucket: string; key: string } | undefined {
  const m = /^oss:\/\/([^/]+)\/(.+)$/.exec(uri);
  return m ? { bucket: m[1]!, key: m[2]! } : undefined;
}

/**
 * The output object a rendered template names. An empty `{dirname}` (a source at the bucket root)
 * would leave `//` or a leading `/` in the key: those collapse, as IMM does for `{dirname}/…`.
 */
export function outputObject(rendered: string): { bucket: string; key: string } | undefined {
  const parsed = parseOssUri(rendered);
  if (!parsed) return undefined;
  const key = parsed.key.replace(/\/{2,}/g, '/').replace(/^\//, '');
  return key ? { bucket: parsed.bucket, key } : undefined;
}
