// One error type for everything the server answers with a non-2xx status. Renderers (OSS XML for the
// URL API, IMM JSON for the RPC API) read these fields; nothing else builds error bodies.

export interface AppErrorOptions {
  /** OSS error code ("EC") such as 0053-00000101; only set where the OSS spec names one. */
  ec?: string;
  /** Seconds, for 503s. */
  retryAfter?: number;
  /** Extra response headers the error implies (e.g. Content-Range on a 416). */
  headers?: Record<string, string>;
  cause?: unknown;
}

export class AppError extends Error {
  readonly status: number;
  readonly code: string;
  readonly ec: string | undefined;
  readonly retryAfter: number | undefined;
  readonly headers: Record<string, string>;

  constructor(status: number, code: string, message: string, options: AppErrorOptions = {}) {
    super(message, { cause: options.cause });
    this.name = 'AppError';
    this.status = status;
    this.code = code;
    this.ec = options.ec;
    this.retryAfter = options.retryAfter;
    this.headers = options.headers ?? {};
  }
}

/** The OSS snapshot parameter a bad value belongs to → its EC. */
export const SNAPSHOT_PARAM_EC = {
  t: '0053-00000101',
  w: '0053-00000104',
  h: '0053-00000105',
  m: '0053-00000106',
  f: '0053-00000107',
  ar: '0053-00000108',
  process: '0053-00000109',
} as const;
export type SnapshotParamName = keyof typeof SNAPSHOT_PARAM_EC;

// The catalogue: every error the server produces is made by one of these, so codes, statuses and
// message shapes are declared exactly once.
export const errors = {
  /** sharp-style message: `Expected integer >= 0 for t but received "abc".` */
  snapshotParam: (param: SnapshotParamName, expected: string, received: string) =>
    new AppError(400, 'InvalidArgument', `Expected ${expected} for ${param} but received "${received}".`, {
      ec: SNAPSHOT_PARAM_EC[param],
    }),
  malformedProcess: (message: string) =>
    new AppError(400, 'InvalidArgument', message, { ec: SNAPSHOT_PARAM_EC.process }),
  /** `image/…` parameters, in the snapshot's style: `Expected integer between 1 and 16384 for resize w but received "0".`
   *  `param` is empty for value-form actions (`rotate,90`): `… for rotate but received "400".` */
  imageParam: (action: string, param: string, expected: string, received: string, ec?: string) =>
    new AppError(400, 'InvalidArgument', `Expected ${expected} for ${param ? `${action} ${param}` : action} but received "${received}".`, { ec }),
  /** A malformed `image/…` or `style/…` process (unknown action, repeated parameter, bad chain). */
  imageProcess: (message: string, ec?: string) => new AppError(400, 'InvalidArgument', message, { ec }),
  /** `sys/saveas` outside a POST body (OSS answers a GET carrying it with 400). */
  saveAsNotAllowed: () =>
    new AppError(400, 'InvalidArgument', 'sys/saveas is only allowed in a POST /{bucket}/{key}?x-oss-process request body.'),
  // OSS asynchronous processing (`POST /{bucket}/{key}?x-oss-async-process`, src/process/async-process.ts).
  /** A malformed `x-oss-async-process` body: its shape, a missing sys/saveas, a repeated segment. */
  asyncProcess: (message: string) => new AppError(400, 'InvalidArgument', message),
  /** An action other than video/snapshots, video/sprite and video/animation. */
  unknownAsyncAction: (action: string) =>
    new AppError(400, 'InvalidArgument', `Unknown x-oss-async-process action "${action.slice(0, 60)}": expected video/snapshots, video/sprite or video/animation.`),
  /** `x-oss-async-process` on a GET or HEAD: it only comes by POST, in the body. */
  asyncProcessNotAllowed: () =>
    new AppError(400, 'InvalidArgument', 'x-oss-async-process is only allowed as POST /{bucket}/{key}?x-oss-async-process with the process in the request body.'),
  /** With access keys configured, asynchronous processing is never anonymous (as on OSS). */
  asyncProcessUnsigned: () => new AppError(403, 'AccessDenied', 'Asynchronous processing (x-oss-async-process) needs a signed request.'),
  /** OSS 0017-00000251 (bad characters) / 0017-00000250 (bad length): style names are 1–63 of [A-Za-z0-9_.-]. */
  invalidStyleName: (name: string, ec: '0017-00000250' | '0017-00000251' = '0017-00000251') =>
    new AppError(400, 'InvalidArgument', `The value: ${name} of parameter: stylename is invalid.`, { ec }),
  /** OSS 0017-00000253; `detail` says why when the reason is not the forbidden characters. */
  invalidStyleContent: (detail?: string) =>
    new AppError(400, 'BadRequest', detail ? `Style content is invalid. ${detail}` : 'Style content is invalid.', { ec: '0017-00000253' }),
  invalidArgument: (message: string, cause?: unknown) => new AppError(400, 'InvalidArgument', message, { cause }),
  notMedia: (message: string, cause?: unknown) => new AppError(400, 'InvalidArgument', message, { cause }),
  limitExceeded: (message: string) => new AppError(400, 'InvalidArgument', message),
  // Image processing (src/image/actions.ts).
  /** OSS's own wording for a crop whose origin (gravity + x, y) lies outside the image. */
  cropOutOfImage: () => new AppError(400, 'BadRequest', "Advance cut's position is out of image."),
  /** sharp/libvips refused the bytes (corrupt, truncated, hostile or not an image): the object's fault, not ours. */
  undecodableImage: (reason: string, cause?: unknown) => new AppError(400, 'InvalidArgument', `The image cannot be processed: ${reason}`, { cause }),
  /** An image watermark whose object the server did not hand over (it does not exist in the bucket). */
  watermarkMissing: (key: string) => new AppError(400, 'InvalidArgument', `The watermark image "${key}" does not exist in the bucket.`),
  invalidBucketName: (bucket: string) =>
    new AppError(400, 'InvalidBucketName', `The bucket name "${bucket}" is not valid.`),
  invalidObjectName: (message: string) => new AppError(400, 'InvalidObjectName', message),
  noSuchBucket: (bucket: string) => new AppError(404, 'NoSuchBucket', `The specified bucket "${bucket}" does not exist.`),
  noSuchKey: (key: string) => new AppError(404, 'NoSuchKey', `The specified key "${key}" does not exist.`),
  /** `/_/…` is the server's own (health, metrics); nothing else lives there. */
  noSuchEndpoint: (path: string) => new AppError(404, 'NoSuchKey', `${path} is not an endpoint of this server: /_/ is reserved for /_/health and /_/metrics.`),
  invalidRange: (size: number) =>
    new AppError(416, 'InvalidRange', `The requested range is not satisfiable (object size ${size}).`, {
      headers: { 'Content-Range': `bytes */${size}` },
    }),
  methodNotAllowed: (method: string) =>
    new AppError(405, 'MethodNotAllowed', `The specified method "${method}" is not allowed against this resource.`),
  saturated: (retryAfter: number) =>
    new AppError(503, 'ServiceUnavailable', 'The server is busy; retry later.', { retryAfter }),
  timeout: (what: string, ms: number) =>
    new AppError(504, 'GatewayTimeout', `${what} did not finish within ${ms} ms.`),
  internal: (cause: unknown) => new AppError(500, 'InternalError', 'We encountered an internal error.', { cause }),
  /** A capture worker died under a job (a crash in the decoder, killed): our fault, never the URL's. */
  workerFailed: (reason: string) => new AppError(502, 'BadGateway', `The capture worker stopped unexpectedly (${reason}); retry.`),
  // Storage origins (S3-compatible, HTTP) and uploads.
  accessDenied: (message: string, cause?: unknown) => new AppError(403, 'AccessDenied', message, { cause }),
  objectChanged: (key: string) =>
    new AppError(412, 'PreconditionFailed', `The object "${key}" changed while it was being read; retry.`),
  originFailed: (message: string, cause?: unknown) => new AppError(502, 'BadGateway', message, { cause }),
  originTimeout: (message: string, cause?: unknown) => new AppError(504, 'GatewayTimeout', message, { cause }),
  readOnlyStorage: (description: string) =>
    new AppError(405, 'MethodNotAllowed', `The storage ${description} is read-only.`),
  noOutputStorage: (description: string) =>
    new AppError(400, 'InvalidArgument', `Outputs cannot be written: the storage ${description} is read-only; set STILLFRAME_OUTPUT_STORAGE to file:///dir or s3://.`),
  lengthRequired: () =>
    new AppError(411, 'MissingContentLength', 'An upload needs Content-Length or Transfer-Encoding: chunked.'),
  invalidDigest: () => new AppError(400, 'InvalidDigest', 'The Content-MD5 you specified did not match what we received.'),
  /** A job's error as a capture worker reports it (src/media/protocol.ts JobError), rebuilt here. */
  fromWorker: (error: { status: number; code: string; message: string }) => new AppError(error.status, error.code, error.message),
  /** The origin answered a ranged read with the wrong number of bytes. */
  shortRead: (got: number, wanted: number) => new AppError(502, 'BadGateway', `The origin returned ${got} bytes for a range of ${wanted}.`),
  // OSS signatures (src/http/oss-auth.ts, src/http/access.ts).
  ossDenied: (message: string) => new AppError(403, 'AccessDenied', message),
  ossExpired: () => new AppError(403, 'AccessDenied', 'Request has expired.'),
  ossSignatureMismatch: () =>
    new AppError(403, 'SignatureDoesNotMatch', 'The request signature we calculated does not match the signature you provided. Check your key and signing method.'),
  ossUnknownKey: () => new AppError(403, 'InvalidAccessKeyId', 'The OSS Access Key Id you provided does not exist in our records.'),
  ossTimeSkewed: () => new AppError(403, 'RequestTimeTooSkewed', 'The difference between the request time and the current time is too large.'),
  // Image styles (src/styles/, src/http/style-routes.ts); the name and content errors are with the image errors above.
  /** OSS documents no code for the 51st style: InvalidArgument with the limit in the message. */
  tooManyStyles: (bucket: string, max: number) =>
    new AppError(400, 'InvalidArgument', `The bucket "${bucket}" already has ${max} styles, the most a bucket may have: delete one first.`),
  noSuchStyle: (name: string) => new AppError(404, 'NoSuchStyle', `The specified style "${name}" does not exist.`),
  malformedXml: (detail: string) =>
    new AppError(400, 'MalformedXML', `The XML you provided was not well-formed or did not validate against our published schema: ${detail}`),
  // IMM (RPC API) codes: the JSON renderer shows `code` and `message` as IMM does.
  invalidVersion: (expected: string, received: unknown) => new AppError(400, 'InvalidVersion', `Expected Version ${expected} but received ${JSON.stringify(received)}.`),
  actionNotFound: (action: string, known: readonly string[]) =>
    new AppError(400, 'InvalidAction.NotFound', `The Action "${action}" is not supported: expected one of ${known.join(', ')}.`),
  taskCanceled: () => new AppError(400, 'TaskCanceled', 'The task was canceled.'),
  /** `Missing<Leaf>` as IMM names it (MissingProjectName, MissingURI); the message carries the full path. */
  missingParam: (path: string) =>
    new AppError(400, `Missing${(path.split('.').pop() ?? path).replace(/\[\d+\]/g, '')}`, `The parameter ${path} is required.`),
  immLimitExceeded: (message: string) => new AppError(400, 'LimitExceededError', message),
  resourceNotFound: (message: string) => new AppError(404, 'ResourceNotFound', message),
  noSuchTask: (projectName: string, taskId: string) =>
    new AppError(404, 'ResourceNotFound', `TaskId: the task "${taskId}" does not exist in project "${projectName}".`),
  resourceAlreadyExists: (message: string) => new AppError(409, 'ResourceAlreadyExists', message),
  forbidden: (code: string, message: string) => new AppError(403, code, message),
  /** The shared nonce store (Redis) did not answer: a signed request is refused rather than let through unchecked. */
  replayCheckUnavailable: (cause: unknown) =>
    new AppError(503, 'ServiceUnavailable', 'The replay check is unavailable (the nonce store did not answer); retry later.', { retryAfter: 1, cause }),
  /** An upload over STILLFRAME_MAX_PUT_BYTES: EntityTooLarge, as OSS answers it. */
  uploadTooLarge: (limit: number) => new AppError(413, 'EntityTooLarge', `The upload is larger than ${limit} bytes (STILLFRAME_MAX_PUT_BYTES).`),
  /** A request body over STILLFRAME_MAX_BODY_BYTES: the connection closes, so the rest is never read. */
  bodyTooLarge: (limit: number) =>
    new AppError(413, 'EntityTooLarge', `The request body is larger than ${limit} bytes (STILLFRAME_MAX_BODY_BYTES).`, { headers: { Connection: 'close' } }),
};

/** The client went away, or the job was cancelled: nobody waits for an answer. */
export class AbortedError extends Error {
  constructor() {
    super('aborted by client');
    this.name = 'AbortError';
  }
}

export function toAppError(err: unknown): AppError {
  return err instanceof AppError ? err : errors.internal(err);
}
