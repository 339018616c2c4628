// `POST /{bucket}/{key}?x-oss-async-process`: OSS asynchronous processing (video/snapshots, video/sprite,
// video/animation saved with sys/saveas, optionally notified) as an IMM CreateMediaConvertTask of the
// bucket's project, submitted through the same path as the RPC action (createTaskSubmitter): GetTask,
// ListTasks and notifications see it like any other task. Answers OSS's JSON {RequestId, EventId, TaskId}.
import type { Context } from 'hono';
import { errors } from '../errors.js';
import { asyncProjectName, convertTaskParams, parseAsyncProcessBody } from '../process/async-process.js';
import type { StatCache } from '../source/stat-cache.js';
import type { TaskService } from '../tasks/service.js';
import type { AccessControl } from './access.js';
import { withRequestId, type AppEnv } from './context.js';
import type { TaskSubmitter } from './imm-routes.js';

export interface AsyncProcessDeps {
  tasks: Pick<TaskService, 'ensureProject'>;
  submit: TaskSubmitter;
  access: AccessControl;
  /** The source's stat: a missing source answers OSS's NoSuchKey before any project or task exists. */
  stats: StatCache;
}

export function createAsyncProcessHandler(deps: AsyncProcessDeps) {
  /** `principal`: the key whose signature on the source's URL was verified, with read access to it. */
  return async (c: Context<AppEnv>, bucket: string, key: string, principal: string | undefined): Promise<Response> => {
    // As on OSS: never anonymous once access keys exist, even on a public-read bucket.
    if (deps.access.enabled && principal === undefined) throw errors.asyncProcessUnsigned();
    const process = parseAsyncProcessBody(await c.req.text());
    const targetBucket = process.saveAs.bucket ?? bucket;
    // The signature was checked on the source's URL; the same key must be allowed to write the target.
    if (!deps.access.mayWrite(principal, targetBucket)) throw errors.ossDenied(`The AccessKeyId ${principal} may not write bucket "${targetBucket}".`);
    await deps.stats.stat(bucket, key);
    const project = asyncProjectName(bucket);
    await deps.tasks.ensureProject(project, `OSS asynchronous processing (x-oss-async-process) of bucket ${bucket}`);
    const task = await deps.submit(convertTaskParams(process, { bucket, key }, project), principal);
    const headers = withRequestId(c, { 'Content-Type': 'application/json' });
    return new Response(JSON.stringify({ RequestId: c.get('requestId'), EventId: task.EventId, TaskId: task.TaskId }), { status: 200, headers });
  };
}
