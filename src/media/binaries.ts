// Which ffmpeg/ffprobe run, and why: an explicit override wins; then ffmpeg-static (an optional
// dependency whose install downloads from GitHub, so it is often absent); then the distro's ffmpeg on
// PATH; then the @ffmpeg-installer / @ffprobe-installer packages, which ship static binaries inside the
// npm tarball and so install wherever the npm registry is reachable.
import { execFileSync } from 'node:child_process';
import { accessSync, constants } from 'node:fs';
import { createRequire } from 'node:module';
import { delimiter, join } from 'node:path';

export interface Binary {
  path: string;
  /** Where it came from: env, ffmpeg-static, PATH, npm-installer. */
  source: string;
  /** Full first line of `-version`, e.g. "ffmpeg version 6.1.1-3 Copyright …". */
  versionLine: string;
  /** Parsed [major, minor]; git snapshot builds ("N-47683-g…") map to their release by date. */
  version: [number, number];
}

export interface Binaries {
  ffmpeg: Binary;
  ffprobe: Binary;
}

const require = createRequire(import.meta.url);

function isExecutable(path: string | undefined | null): path is string {
  if (!path) return false;
  try {
    accessSync(path, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

function onPath(name: string): string | undefined {
  for (const dir of (process.env.PATH ?? '').split(delimiter)) {
    if (dir && isExecutable(join(dir, name))) return join(dir, name);
  }
  return undefined;
}

function fromPackage(pkg: string): string | undefined {
  try {
    const mod = require(pkg) as string | { path?: string } | null;
    const path = typeof mod === 'string' ? mod : mod?.path;
    return isExecutable(path) ? path : undefined;
  } catch {
    return undefined;
  }
}

// Git snapshot builds print "N-<count>-g<hash>" instead of a release number; their libavformat major
// tells the release line they belong to (58 → 4.x, 59 → 5.x, 60 → 6.x, 61 → 7.x, 62 → 8.x).
const LAVF_RELEASES: Record<number, [number, number]> = {
  57: [3, 4], 58: [4, 0], 59: [5, 0], 60: [6, 0], 61: [7, 0], 62: [8, 0],
};

export function parseVersion(versionOutput: string): [number, number] {
  const release = /version\s+n?(\d+)\.(\d+)/.exec(versionOutput);
  if (release) return [Number(release[1]), Number(release[2])];
  const lavf = /libavformat\s+(\d+)\.\s*(\d+)/.exec(versionOutput);
  if (lavf) {
    const [major, minor] = [Number(lavf[1]), Number(lavf[2])];
    const line = LAVF_RELEASES[major];
    // Within 58 the minor tells 4.1 (58.20) from 4.4 (58.76); finer than that is not needed.
    if (major === 58) return [4, minor >= 76 ? 4 : minor >= 45 ? 3 : minor >= 29 ? 2 : minor >= 20 ? 1 : 0];
    if (line) return line;
  }
  return [0, 0];
}

function describe(path: string, source: string): Binary {
  const out = execFileSync(path, ['-hide_banner', '-version'], { encoding: 'utf8', timeout: 10_000, env: { PATH: process.env.PATH } });
  const versionLine = out.split('\n')[0]?.trim() ?? '';
  return { path, source, versionLine, version: parseVersion(out) };
}

function resolveOne(
  name: 'ffmpeg' | 'ffprobe',
  override: string | undefined,
): Binary {
  if (override) {
    if (!isExecutable(override)) throw new Error(`STILLFRAME_${name.toUpperCase()}=${override} is not an executable file`);
    return describe(override, 'env');
  }
  const candidates: [string | undefined, string][] = [
    [name === 'ffmpeg' ? fromPackage('ffmpeg-static') : fromPackage('ffprobe-static'), `${name}-static`],
    [onPath(name), 'PATH'],
    [fromPackage(name === 'ffmpeg' ? '@ffmpeg-installer/ffmpeg' : '@ffprobe-installer/ffprobe'), 'npm-installer'],
  ];
  for (const [path, source] of candidates) {
    if (!path) continue;
    try {
      return describe(path, source);
    } catch {
      // A binary that cannot even print its version is skipped, not fatal: the next one may work.
    }
  }
  throw new Error(
    `No working ${name} found. Set STILLFRAME_${name.toUpperCase()}, install ffmpeg (apt-get install ffmpeg), ` +
      `or run npm ci so that the bundled @${name}-installer package is present.`,
  );
}

export function resolveBinaries(env: { ffmpeg?: string; ffprobe?: string } = {}): Binaries {
  return { ffmpeg: resolveOne('ffmpeg', env.ffmpeg), ffprobe: resolveOne('ffprobe', env.ffprobe) };
}
