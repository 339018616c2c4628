// A capture worker: a long-lived child process of the server that runs one job at a time — open, seek,
// decode, scale or tone-map, render — calling FFmpeg through node-av's synchronous API (its async calls
// cost a thread hop per packet: 2–3× slower for this work). A native crash, a runaway allocation or a
// hang takes down this process only; the server answers the job and starts a new worker
// (src/media/pool.ts). Open sources stay open between jobs (LRU), so a second frame of a hot file skips
// open and probe; the server routes jobs of one source here while this worker is free.
import { AV_LOG_QUIET, getFFmpegInfo, Log, type Frame } from 'node-av';
import sharp from 'sharp';
import { AbortedError, AppError } from '../../errors.js';
import { planGeometry, type Geometry } from '../../image/geometry.js';
import { renderPicture, shapedPixels } from '../../image/render.js';
import type { CaptureJob, CaptureResult, ImagePipeline, ExtractJob, ExtractResult, FromWorker, IndexJob, IndexResult, Job, JobError, SourceRef, ToWorker, WorkerSettings } from '../protocol.js';
import { bestFrameNear } from './best-frame.js';
import { extractFrames, scanIndex, type WantedFrame } from './extract.js';
import { frameAt } from './frame-at.js';
import { processImage, runPipeline } from './image-job.js';
import { OpenSource } from './source.js';

const settings = JSON.parse(process.argv[2] ?? '{}') as WorkerSettings;

// FFmpeg's own log lines would go to stderr unasked; errors reach clients through job answers.
Log.setLevel(AV_LOG_QUIET);
// Each worker renders one image at a time; parallelism comes from the workers. No input caching:
// every picture is new.
sharp.concurrency(1);
sharp.cache(false);

const imageSettings = { quality: settings.quality, limits: settings.imageLimits };

const send = (message: FromWorker) => process.send!(message);
const rss = () => process.memoryUsage.rss();

// --- open sources (LRU by id) -------------------------------------------------------------------

const open = new Map<string, OpenSource>();

function sourceFor(ref: SourceRef): { source: OpenSource; opened: boolean } {
  const held = open.get(ref.id);
  if (held) {
    open.delete(ref.id);
    open.set(ref.id, held);
    return { source: held, opened: false };
  }
  const source = OpenSource.open(ref, settings);
  open.set(ref.id, source);
  while (open.size > Math.max(1, settings.openSources)) {
    const [oldest, stale] = open.entries().next().value as [string, OpenSource];
    open.delete(oldest);
    stale.close();
  }
  return { source, opened: true };
}

/** Open sources are a cache: the least recently used close while the worker holds more than its budget. */
function trimOpenSources(): void {
  while (open.size > 1 && rss() > settings.openSourcesBytes) {
    const [oldest, stale] = open.entries().next().value as [string, OpenSource];
    open.delete(oldest);
    stale.close();
  }
}

/** A source whose job failed is closed: its demuxer or decoder may be in any state. */
function drop(id: string): void {
  open.get(id)?.close();
  open.delete(id);
}

// --- jobs -----------------------------------------------------------------------------------------

const cancelled = new Set<number>();
const acks = new Map<number, { acked: number; wake?: () => void }>();

async function render(source: OpenSource, frame: Frame, geometry: Geometry, format: CaptureJob['render']['format']): Promise<Buffer> {
  const pixels = source.converter.convert(frame, { kind: 'rgb', ...geometry.scaled });
  return renderPicture(pixels, geometry, format, settings.quality);
}

/** A snapshot followed by image actions: the shaped frame goes to the pipeline as raw pixels. */
async function renderThrough(source: OpenSource, frame: Frame, geometry: Geometry, format: CaptureJob['render']['format'], image: ImagePipeline) {
  const pixels = await shapedPixels(source.converter.convert(frame, { kind: 'rgb', ...geometry.scaled }), geometry);
  return runPipeline({ kind: 'raw', ...pixels, channels: 3 }, image, format, undefined, imageSettings);
}

async function capture(job: CaptureJob): Promise<CaptureResult> {
  const t0 = performance.now();
  const { source } = sourceFor(job.source);
  const t1 = performance.now();
  // `t_<n>p`: a share of the video stream's duration (the stream's end, at 100, is its last frame).
  const timeMs = job.timePercent === undefined ? job.timeMs : (job.timePercent / 100) * source.videoDuration() * 1000;
  const located = job.best ? bestFrameNear(source, timeMs, job.best.windowMs) : frameAt(source, timeMs, job.seek);
  const t2 = performance.now();
  try {
    const geometry = planGeometry(source.video, { ...job.render });
    const rendered = job.image
      ? await renderThrough(source, located.frame, geometry, job.render.format, job.image)
      : { body: await render(source, located.frame, geometry, job.render.format), contentType: undefined };
    const frameTimeMs = source.video.isCoverArt ? 0 : Math.max(0, Math.round(source.seconds(located.pts - source.startPts) * 1000));
    return {
      body: rendered.body,
      contentType: rendered.contentType,
      frameTimeMs,
      keyframe: located.keyframe,
      info: source.info,
      timings: { open: t1 - t0, decode: t2 - t1, encode: performance.now() - t2 },
    };
  } finally {
    located.frame.free();
  }
}

function index(job: IndexJob): IndexResult {
  const { source } = sourceFor(job.source);
  if (source.video.isCoverArt) return { info: source.info, index: undefined };
  return { info: source.info, index: scanIndex(source, job.from) };
}

// The server writes each extracted output before acknowledging it; this many may be on their way.
const IN_FLIGHT = 8;
// Frames converted and being encoded (sharp, on its own thread) while the next ones decode here.
const RENDERING = 3;

async function extract(id: number, job: ExtractJob): Promise<ExtractResult> {
  const { source } = sourceFor(job.source);
  const flow = { acked: 0 } as { acked: number; wake?: () => void };
  acks.set(id, flow);
  let sent = 0;
  // Keyframe of each wanted frame: the last keyframe of the index at or before it (sent by the server).
  const wanted: WantedFrame[] = job.frames.map((pts, i) => ({ pts: source.ticks(pts), keyPts: source.ticks(job.keyframes[i] ?? pts) }));
  const output = job.output;
  const geometry = output.kind === 'grey' ? undefined : planGeometry(source.video, output.render);
  const { width, height } = output.kind === 'grey' ? output : geometry!.output;
  // Outputs leave in order; each one's encoding starts as soon as its frame is converted, so the
  // decoder runs on while sharp encodes the frames before it.
  let tail: Promise<void> = Promise.resolve();
  let rendering = 0;
  const deliver = async (position: number, pts: bigint, data: Promise<Uint8Array>) => {
    const bytes = await data;
    send({ type: 'frame', id, frame: { position, pts: source.seconds(pts), data: bytes, width, height } });
    sent++;
    while (sent - flow.acked >= IN_FLIGHT && !cancelled.has(id)) await new Promise<void>((resolve) => (flow.wake = resolve));
  };
  // A cover picture (audio file) is one still, whatever the times asked for.
  const walk: typeof extractFrames = source.video.isCoverArt ? coverFrames : extractFrames;
  try {
    const stats = await walk(
      source,
      wanted,
      job.keyframesOnly,
      async (position, frame, pts) => {
        const data: Promise<Uint8Array> =
          output.kind === 'image'
            ? render(source, frame, geometry!, output.render.format)
            : output.kind === 'pixels'
              ? shapedPixels(source.converter.convert(frame, { kind: 'rgb', ...geometry!.scaled }), geometry!).then((p) => p.data)
              : Promise.resolve(source.converter.convert(frame, { kind: 'grey', width: output.width, height: output.height }).data);
        // The frame is converted by now (render() converts before it returns its promise): it may be freed.
        data.catch(() => {});
        rendering++;
        tail = tail.then(() => deliver(position, pts, data)).finally(() => rendering--);
        if (rendering >= RENDERING) await tail;
      },
      () => cancelled.has(id),
    );
    await tail;
    return stats;
  } finally {
    acks.delete(id);
  }
}

async function coverFrames(source: OpenSource, wanted: readonly WantedFrame[], _keyframesOnly: boolean, emit: (position: number, frame: Frame, pts: bigint) => Promise<void>) {
  for (let position = 0; position < wanted.length; position++) {
    const located = frameAt(source, 0, 'exact');
    try {
      await emit(position, located.frame, located.pts);
    } finally {
      located.frame.free();
    }
  }
  return { decoded: wanted.length, seeks: 0 };
}

async function run(id: number, job: Job): Promise<unknown> {
  switch (job.kind) {
    case 'capture':
      return capture(job);
    case 'index':
      return index(job);
    case 'extract':
      return extract(id, job);
    case 'image':
      return processImage(job, imageSettings);
  }
}

function asJobError(err: unknown): JobError {
  if (err instanceof AppError) return { status: err.status, code: err.code, message: err.message };
  if (err instanceof AbortedError) return { status: 499, code: 'Aborted', message: err.message };
  return { status: 500, code: 'InternalError', message: err instanceof Error ? `${err.name}: ${err.message}` : String(err) };
}

process.on('message', (message: ToWorker) => {
  if (message.type === 'cancel') {
    cancelled.add(message.id);
    acks.get(message.id)?.wake?.();
    return;
  }
  if (message.type === 'ack') {
    const flow = acks.get(message.id);
    if (flow) {
      flow.acked += message.count;
      flow.wake?.();
    }
    return;
  }
  const { id, job } = message;
  run(id, job).then(
    (result) => {
      trimOpenSources();
      send({ type: 'result', id, result, rss: rss() });
    },
    (err: unknown) => {
      drop(job.source.id);
      send({ type: 'error', id, error: asJobError(err), rss: rss() });
    },
  ).finally(() => cancelled.delete(id));
});

// The server is gone (crashed, killed): nothing will ever ask for work again.
process.on('disconnect', () => process.exit(0));

// Loaded: the start watchdog the server armed before the modules (src/media/pool.ts) is not needed.
clearTimeout((globalThis as { stillframeStartWatchdog?: NodeJS.Timeout }).stillframeStartWatchdog);
send({ type: 'ready', pid: process.pid, versions: { node: process.versions.node, ffmpeg: getFFmpegInfo().version, sharp: sharp.versions.sharp ?? '', vips: sharp.versions.vips } });
