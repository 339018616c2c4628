// The deployment files, checked without a Docker engine (none on the CI machine): docker-compose.yml
// parses and wires nginx → two stillframe nodes → Redis + an S3-compatible store, every image pinned;
// nginx/compose.conf passes `nginx -t` (service names mapped to loopback); the Dockerfile builds dist/
// in one stage and runs it from a runtime stage with production dependencies only, non-root,
// health-checked, its storage and task journal on the writable /data volume.
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { loadConfig } from '../../src/config.js';
import { nginxBinary } from '../support/fleet.js';
import { stopAll, tempDir } from '../support/processes.js';

const ROOT = resolve(import.meta.dirname, '../..');
/** A released version: 1.27.5-alpine, 7.4.6-alpine, RELEASE.2025-09-07T16-13-09Z; not latest, 7-alpine or 1.27. */
const PINNED = /^[\w./-]+:(\d+\.\d+\.\d+(-[\w.]+)?|RELEASE\.\d{4}-\d\d-\d\dT\d\d-\d\d-\d\dZ)$/;
afterAll(stopAll);

interface Service {
  image?: string;
  build?: string;
  command?: string[];
  environment?: Record<string, string>;
  volumes?: string[];
  ports?: string[];
  depends_on?: Record<string, { condition: string }>;
  healthcheck?: { test: string[] };
}

describe('docker-compose.yml', () => {
  const compose = parse(readFileSync(join(ROOT, 'docker-compose.yml'), 'utf8'), { merge: true }) as { services: Record<string, Service> };
  const { services } = compose;

  it('has nginx, two stillframe nodes, Redis and an S3-compatible store', () => {
    expect(Object.keys(services)).toEqual(expect.arrayContaining(['nginx', 'stillframe-1', 'stillframe-2', 'redis', 'minio']));
  });

  it('points both nodes at the same Redis and S3 store, with settings stillframe accepts', () => {
    for (const name of ['stillframe-1', 'stillframe-2']) {
      const node = services[name]!;
      expect(node.build).toBe('.');
      const env = node.environment!;
      expect(env.STILLFRAME_REDIS_URL).toMatch(/^redis:\/\/redis:6379/);
      expect(env.STILLFRAME_STORAGE).toBe('s3://');
      expect(env.STILLFRAME_S3_ENDPOINT).toBe('http://minio:9000');
      expect(env.AWS_ACCESS_KEY_ID).toBe(services.minio!.environment!.MINIO_ROOT_USER);
      expect(env.AWS_SECRET_ACCESS_KEY).toBe(services.minio!.environment!.MINIO_ROOT_PASSWORD);
      // Every variable is a setting stillframe parses successfully.
      const config = loadConfig(env);
      expect(config.scale.redisUrl).toBe(env.STILLFRAME_REDIS_URL);
      expect(config.storage.kind).toBe('s3');
      expect(config.host).toBe('0.0.0.0');
      expect(node.depends_on?.redis?.condition).toBe('service_healthy');
    }
  });

  it('pins every image to a release: no latest, no bare major or minor tags', () => {
    for (const [name, service] of Object.entries(services)) {
      if (service.build) continue; // built here (stillframe:local)
      expect(service.image, name).toMatch(PINNED);
    }
    expect(Object.values(services).filter((s) => !s.build)).toHaveLength(4);
  });

  it('mounts nginx/compose.conf, whose upstreams are the two nodes', () => {
    const nginx = services.nginx!;
    expect(nginx.volumes).toContain('./nginx/compose.conf:/etc/nginx/nginx.conf:ro');
    expect(nginx.ports).toContain('8081:8081');
    const conf = readFileSync(join(ROOT, 'nginx/compose.conf'), 'utf8');
    expect(conf).toContain('server stillframe-1:8080');
    expect(conf).toContain('server stillframe-2:8080');
  });

  it.skipIf(!nginxBinary())('nginx/compose.conf passes nginx -t', async () => {
    const prefix = await tempDir('compose-conf');
    const conf = readFileSync(join(ROOT, 'nginx/compose.conf'), 'utf8')
      .replace(/stillframe-[12]:8080/g, (m) => (m.startsWith('stillframe-1') ? '127.0.0.1:18080' : '127.0.0.1:18081'))
      .replace('/var/cache/nginx/stillframe', join(prefix, 'cache'))
      .replace('/tmp/nginx.pid', join(prefix, 'nginx.pid'));
    await writeFile(join(prefix, 'nginx.conf'), conf);
    const result = spawnSync(nginxBinary()!, ['-t', '-p', prefix, '-c', join(prefix, 'nginx.conf')], { encoding: 'utf8' });
    expect(result.status, result.stderr).toBe(0);
  });
});

describe('Dockerfile', () => {
  const lines = readFileSync(join(ROOT, 'Dockerfile'), 'utf8')
    .replace(/\\\n/g, ' ')
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l && !l.startsWith('#'));
  const args = Object.fromEntries(lines.map((l) => /^ARG\s+(\w+)=(\S+)/.exec(l)).filter((m) => m !== null).map((m) => [m[1]!, m[2]!]));
  const stageStarts = lines.map((l, i) => [l, i] as const).filter(([l]) => /^FROM\s/i.test(l));
  const stages = stageStarts.map(([from, i], n) => ({
    image: from.split(/\s+/)[1]!.replace(/^\$\{(\w+)\}$/, (_, name: string) => args[name] ?? name),
    name: /\sAS\s+(\S+)/i.exec(from)?.[1],
    lines: lines.slice(i + 1, stageStarts[n + 1]?.[1] ?? lines.length),
  }));
  const final = stages.at(-1)!;
  /** ENV KEY=value pairs of the runtime stage. */
  const env = Object.fromEntries(final.lines.filter((l) => /^ENV\s/.test(l)).flatMap((l) => [...l.slice(3).matchAll(/(\w+)=(\S+)/g)].map((m) => [m[1]!, m[2]!])));

  it('builds on pinned Node 24 images', () => {
    for (const stage of stages) expect(stage.image).toMatch(/^node:24\.\d+\.\d+-[a-z]+-slim$/);
  });

  it('compiles TypeScript in a build stage that has the dev dependencies', () => {
    const build = stages.find((s) => s.lines.some((l) => /^RUN\s+npm run build\b/.test(l)))!;
    expect(build).toBeDefined();
    const ci = build.lines.find((l) => /^RUN\s+npm ci\b/.test(l))!;
    expect(ci).not.toMatch(/--omit=dev|--production/);
    expect(build.lines).toContain('COPY src ./src');
  });

  it('runs dist/ with production dependencies only: no TypeScript sources, tsx or ffmpeg binary', () => {
    const from = (what: string) => final.lines.find((l) => new RegExp(`^COPY\\s+--from=(\\S+)\\s+/app/${what}\\s`).test(l));
    const build = stages.find((s) => s.lines.some((l) => /^RUN\s+npm run build\b/.test(l)))!;
    expect(from('dist')).toContain(`--from=${build.name}`);
    const modules = stages.find((s) => s.name === /--from=(\S+)/.exec(from('node_modules')!)?.[1])!;
    expect(modules.lines.find((l) => /^RUN\s+npm ci\b/.test(l))).toMatch(/--omit=dev/);
    expect(final.lines.filter((l) => /^(COPY|ADD)\s/.test(l) && /\b(src|test|bench|tsconfig[\w.]*\.json)\b/.test(l))).toEqual([]);
    expect(final.lines.some((l) => /^RUN\s+npm\s+(ci|install|i)\b/.test(l))).toBe(false);
    const cmd = JSON.parse(final.lines.find((l) => /^CMD\s/.test(l))!.slice(3).trim()) as string[];
    expect(cmd).toEqual(['node', 'dist/main.js', 'serve']);
    expect(lines.join('\n')).not.toMatch(/ffmpeg|ffprobe|tsx/i);
    // The dev-only tools really are dev dependencies (npm ci --omit=dev leaves them out).
    const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { dependencies: Record<string, string>; devDependencies: Record<string, string> };
    for (const dev of ['typescript', 'tsx', 'vitest', '@types/node']) {
      expect(pkg.dependencies[dev], dev).toBeUndefined();
      expect(pkg.devDependencies[dev], dev).toBeDefined();
    }
  });

  it('runs as a non-root user, health-checked, with an exec-form CMD after USER', () => {
    const user = final.lines.findIndex((l) => /^USER\s/i.test(l));
    expect(user).toBeGreaterThan(-1);
    expect(final.lines[user]!.split(/\s+/)[1]).not.toMatch(/^(root|0)(:|$)/);
    expect(final.lines.slice(user).some((l) => /^USER\s+(root|0)\b/i.test(l))).toBe(false);
    const cmd = final.lines.findIndex((l) => /^CMD\s/i.test(l));
    expect(cmd).toBeGreaterThan(user);
    expect(final.lines.some((l) => /^HEALTHCHECK\s.*\/_\/health/i.test(l))).toBe(true);
    expect(final.lines.some((l) => /^EXPOSE\s+8080\b/.test(l))).toBe(true);
  });

  it('keeps storage and the task journal on the /data volume, which the user owns', () => {
    // The image's environment as the server reads it.
    const config = loadConfig(env);
    expect(config.host).toBe('0.0.0.0');
    expect(config.storage.root).toBe('/data');
    expect(config.tasks.stateDir.startsWith('/data/')).toBe(true);
    // …and still with s3:// storage (docker-compose.yml), where there is no storage root to put it under.
    expect(loadConfig({ ...env, STILLFRAME_STORAGE: 's3://' }).tasks.stateDir.startsWith('/data/')).toBe(true);
    expect(final.lines).toContain('VOLUME ["/data"]');
    const user = final.lines.find((l) => /^USER\s/.test(l))!.split(/\s+/)[1]!;
    expect(final.lines.some((l) => new RegExp(`chown\\s+(-R\\s+)?${user}(:${user})?\\s+/data\\b`).test(l))).toBe(true);
  });
});
