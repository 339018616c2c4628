// The IMM RPC endpoint: `POST /` (and `GET /`) with `Action=<Operation>`. Parameters come from the query
// string and an urlencoded form (object parameters as JSON strings), or from a JSON body (the
// `curl -d @req.json` convenience). Answers are JSON; errors are IMM's JSON error body.
import type { Context } from 'hono';
import { AppError, errors, toAppError } from '../errors.js';
import { projectName, parseCreateProject, parseGetTask, parseListProjects, parseListTasks, type Params } from '../process/imm-request.js';
import type { TaskRecord } from '../tasks/journal.js';
import type { TaskService } from '../tasks/service.js';
import type { AppEnv } from './context.js';
import { createRpcVerifier } from './imm-auth.js';
import { checkTaskBuckets, type AccessControl } from './access.js';
import { outputUri, parseConvertTask, type RequestLimits } from '../process/imm-request.js';

export const IMM_VERSION = '2020-09-30';
const MAX_BODY_BYTES = 1024 * 1024;

export interface ImmRoutesDeps {
  tasks: TaskService;
  /** AccessKeyId → secret; empty = unsigned requests are accepted. */
  accessKeys: Record<string, string>;
  /** Bucket permissions of the signing key for task sources and outputs (open when no keys exist). */
  access: AccessControl;
  /** The task parser's limits (the service's), so a request refused here gets the service's message. */
  limits: RequestLimits;
}

/** Which buckets a CreateMediaConvertTask request (or a stored task's Definition) reads and writes. */
function taskBuckets(params: Params, limits: RequestLimits, createdAt = new Date()) {
  const request = parseConvertTask(params, limits, createdAt);
  const sources = request.sources.map((s) => ({ field: `${s.field}.URI`, bucket: s.bucket }));
  const outputs: { field: string; bucket: string }[] = [];
  for (const source of request.sources) {
    for (const spec of request.snapshots) {
      // Two renderings with other times and indexes: a bucket name built from variables is checked either way.
      for (const [index, modified] of [[1, createdAt], [2, new Date(0)]] as const) {
        outputs.push({ field: `${spec.field}.URI`, bucket: outputUri(spec, source, { index, createdAt, sourceModified: modified, tags: request.tags }).bucket });
      }
    }
  }
  return { sources, outputs };
}

export function immErrorBody(err: AppError, requestId: string, hostId: string) {
  return { RequestId: requestId, HostId: hostId, Code: err.code, Message: err.message, Recommend: '' };
}

/** Is this request for the RPC API? POST / always; GET / when it names an Action. */
export function isImmRequest(method: string, url: URL): boolean {
  if (url.pathname !== '/') return false;
  return method === 'POST' || (method === 'GET' && url.searchParams.has('Action'));
}

interface ReadParams {
  params: Params;
  /** Every parameter as the string that was signed (query + form). */
  signed: Record<string, string> | undefined;
}

async function readParams(c: Context<AppEnv>): Promise<ReadParams> {
  const url = c.get('url') ?? new URL(c.req.url);
  const query: Record<string, string> = Object.fromEntries(url.searchParams);
  if (c.req.method !== 'POST') return { params: query, signed: query };
  const declared = Number(c.req.header('content-length') ?? 0);
  if (declared > MAX_BODY_BYTES) throw errors.payloadTooLarge(MAX_BODY_BYTES);
  const body = Buffer.from(await c.req.arrayBuffer());
  if (body.length > MAX_BODY_BYTES) throw errors.payloadTooLarge(MAX_BODY_BYTES);
  const type = (c.req.header('content-type') ?? '').toLowerCase();
  const text = body.toString('utf8');
  if (type.includes('application/json')) {
    let parsed: unknown;
    try {
      parsed = text.trim() ? JSON.parse(text) : {};
    } catch (err) {
      throw errors.invalidArgument(`The request body is not valid JSON: ${(err as Error).message}.`);
    }
    if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) throw errors.invalidArgument('The JSON request body must be an object.');
    return { params: { ...query, ...(parsed as Params) }, signed: undefined };
  }
  if (text && !type.includes('application/x-www-form-urlencoded') && type !== '') {
    throw errors.invalidArgument(`Unsupported Content-Type "${type}": send application/x-www-form-urlencoded (RPC) or application/json.`);
  }
  const form = Object.fromEntries(new URLSearchParams(text));
  const merged = { ...query, ...form };
  return { params: merged, signed: merged };
}

/** TaskInfo as GetTask and ListTasks show it. */
export function taskInfo(task: TaskRecord, withDefinition: boolean) {
  return {
    ProjectName: task.ProjectName,
    TaskId: task.TaskId,
    TaskType: task.TaskType,
    EventId: task.EventId,
    Status: task.Status,
    Code: task.Code,
    Message: task.Message,
    CreateTime: task.CreateTime,
    StartTime: task.StartTime ?? task.CreateTime,
    EndTime: task.EndTime ?? '',
    Progress: task.Progress,
    UserData: task.UserData ?? '',
    Tags: task.Tags,
    ...(withDefinition && { TaskRequestDefinition: JSON.stringify(task.Definition) }),
    // stillframe's addition: what the task wrote.
    Outputs: task.Outputs,
  };
}

/** The handler for requests isImmRequest() accepts; it runs in the app's context (request id, log). */
export function createImmHandler(deps: ImmRoutesDeps): (c: Context<AppEnv>) => Promise<Response> {
  const verifier = Object.keys(deps.accessKeys).length ? createRpcVerifier(deps.accessKeys) : undefined;
  const { tasks, access } = deps;
  const restricted = (principal: string | undefined) => access.enabled && principal !== undefined && access.restricted(principal);
  /** A key limited to some buckets sees only the tasks it could have submitted itself. */
  const visibleTo = (principal: string | undefined, task: TaskRecord) => {
    if (!restricted(principal)) return true;
    const { sources, outputs } = taskBuckets(task.Definition, deps.limits, new Date(task.CreateTime));
    return sources.every((s) => access.mayRead(principal, s.bucket)) && outputs.every((o) => access.mayWrite(principal, o.bucket));
  };

  const actions: Record<string, (params: Params, principal?: string) => Promise<Record<string, unknown>> | Record<string, unknown>> = {
    async CreateProject(params) {
      return { Project: await tasks.createProject(parseCreateProject(params)) };
    },
    GetProject: async (params) => ({ Project: await tasks.getProject(projectName(params)) }),
    async ListProjects(params) {
      const { projects, nextToken } = await tasks.listProjects(parseListProjects(params));
      return { NextToken: nextToken, Projects: projects };
    },
    async DeleteProject(params, principal) {
      // A project holds the tasks of every key: only a key that may use every bucket deletes one.
      if (restricted(principal)) throw errors.forbidden('AccessDenied', `The AccessKeyId ${principal} is limited to some buckets (STILLFRAME_KEY_BUCKETS) and may not delete projects.`);
      await tasks.deleteProject(projectName(params));
      return {};
    },
    async CreateMediaConvertTask(params, principal) {
      if (access.enabled) {
        const { sources, outputs } = taskBuckets(params, deps.limits);
        checkTaskBuckets(access, principal, sources, outputs);
      }
      const task = await tasks.submit(params);
      return { TaskId: task.TaskId, EventId: task.EventId };
    },
    async GetTask(params, principal) {
      const request = parseGetTask(params);
      const task = await tasks.getTask(request.projectName, request.taskId);
      // Another key's task is answered exactly as a task that does not exist.
      if (!visibleTo(principal, task)) throw errors.noSuchTask(request.projectName, request.taskId);
      return taskInfo(task, request.requestDefinition);
    },
    async ListTasks(params, principal) {
      const request = parseListTasks(params);
      const { tasks: found, nextToken } = await tasks.listTasks(request);
      const visible = found.filter((t) => visibleTo(principal, t));
      return { ProjectName: request.projectName, NextToken: nextToken, Tasks: visible.map((t) => taskInfo(t, request.requestDefinition)) };
    },
  };

  return async (c) => {
    const requestId = c.get('requestId');
    try {
      const { params, signed } = await readParams(c);
      const action = (typeof params.Action === 'string' && params.Action) || c.req.header('x-acs-action');
      if (action) {
        // From the query, the form body or the header, parsed once here: the request's log lines
        // (its access line included) carry it, also when the request is refused below.
        const logged = action.slice(0, 100);
        c.set('action', logged);
        c.set('log', c.get('log').child({ action: logged }));
      }
      if (verifier) {
        if (!signed) throw errors.forbidden('InvalidParameter.Signature', 'JSON bodies cannot carry an RPC signature: send the parameters as a signed form (as @alicloud/pop-core or `stillframe task` do).');
        verifier.verify(c.req.method, signed);
      }
      if (!action) throw errors.missingParam('Action');
      const version = params.Version;
      if (version !== undefined && version !== IMM_VERSION) {
        throw new AppError(400, 'InvalidVersion', `Expected Version ${IMM_VERSION} but received ${JSON.stringify(version)}.`);
      }
      const handler = Object.hasOwn(actions, action) ? actions[action] : undefined;
      if (!handler) {
        throw new AppError(400, 'InvalidAction.NotFound', `The Action "${action}" is not supported: expected one of ${Object.keys(actions).join(', ')}.`);
      }
      const result = await handler(params, verifier && signed ? signed.AccessKeyId : undefined);
      return c.json({ RequestId: requestId, ...result });
    } catch (err) {
      const appError = toAppError(err);
      if (appError.status >= 500 && appError.status !== 503) c.get('log').error('IMM request failed', { err: appError });
      const headers: Record<string, string> = {};
      if (appError.retryAfter !== undefined) headers['Retry-After'] = String(appError.retryAfter);
      return c.json(immErrorBody(appError, requestId, c.req.header('host') ?? ''), appError.status as 400, headers);
    }
  };
}
