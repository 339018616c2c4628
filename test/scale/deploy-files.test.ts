// The deployment files, checked without a Docker engine (none on the CI machine): docker-compose.yml
// parses and wires nginx → two stillframe nodes → Redis + an S3-compatible store; nginx/compose.conf
// passes `nginx -t` (service names mapped to loopback); the Dockerfile is multi-stage, non-root,
// health-checked, with a static ffmpeg.
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { loadConfig } from '../../src/config.js';
import { nginxBinary } from './harness.js';
import { stopAll, tempDir } from '../support/processes.js';

const ROOT = resolve(import.meta.dirname, '../..');
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
  const stages = lines.map((l, i) => [l, i] as const).filter(([l]) => /^FROM\s/i.test(l));
  const final = lines.slice(stages.at(-1)![1]);

  it('is multi-stage, with a static ffmpeg copied from its own stage', () => {
    expect(stages.length).toBeGreaterThanOrEqual(2);
    expect(lines.some((l) => /^FROM\s+mwader\/static-ffmpeg:\S+\s+AS\s+ffmpeg/i.test(l))).toBe(true);
    expect(final.some((l) => /^COPY\s+--from=ffmpeg\s+\/ffmpeg\s+\/ffprobe\s/.test(l))).toBe(true);
    expect(final.some((l) => l.includes('STILLFRAME_FFMPEG=/usr/local/bin/ffmpeg'))).toBe(true);
  });

  it('runs as a non-root user, health-checked, with an exec-form CMD after USER', () => {
    const user = final.findIndex((l) => /^USER\s/i.test(l));
    expect(user).toBeGreaterThan(-1);
    expect(final[user]!.split(/\s+/)[1]).not.toMatch(/^(root|0)(:|$)/);
    expect(final.slice(user).some((l) => /^USER\s+(root|0)\b/i.test(l))).toBe(false);
    const cmd = final.findIndex((l) => /^CMD\s/i.test(l));
    expect(cmd).toBeGreaterThan(user);
    expect(() => JSON.parse(final[cmd]!.slice(3).trim())).not.toThrow();
    expect(final.some((l) => /^HEALTHCHECK\s.*\/_\/health/i.test(l))).toBe(true);
    expect(final.some((l) => /^EXPOSE\s+8080\b/.test(l))).toBe(true);
  });
});
