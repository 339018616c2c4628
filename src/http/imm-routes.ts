// The IMM RPC endpoint: `POST /` (and `GET /`) with `Action=<Operation>` (or ACS3's x-acs-action header).
// Parameters come from the query string and an urlencoded form (object parameters as JSON strings), or
// from a JSON body (the `curl -d @req.json` convenience; signed only by ACS3). Answers are JSON; errors
// are IMM's JSON error body.
import type { Context } from 'hono';
import { type AppError, errors, toAppError } from '../errors.js';
import {
  outputSpecs,
  outputUri,
  parseConvertTask,
  parseCreateProject,
  parseGetTask,
  parseListProjects,
  parseListTasks,
  projectName,
  type ConvertTaskRequest,
  type Params,
  type RequestLimits,
} from '../process/imm-request.js';
import { acceptedRequest, type TaskRecord } from '../tasks/records.js';
import type { TaskService } from '../tasks/service.js';
import type { AppEnv } from './context.js';
import { createRpcVerifier, type Verified } from './imm-auth.js';
import type { NonceStore } from './nonce-store.js';
import { checkTaskBuckets, type AccessControl } from './access.js';

export const IMM_VERSION = '2020-09-30';

export interface ImmRoutesDeps {
  tasks: TaskService;
  /** AccessKeyId → secret; empty = unsigned requests are accepted. */
  accessKeys: Record<string, string>;
  /** Where signature nonces are remembered (shared through Redis in a fleet). */
  nonces: NonceStore;
  /** Bucket permissions of the signing key for task sources and outputs (open when no keys exist). */
  access: AccessControl;
  /** The task parser's limits: a CreateMediaConvertTask request is parsed and validated here, once. */
  limits: RequestLimits;
}

/** Which buckets a CreateMediaConvertTask request (or a stored task's) reads and writes. */
function taskBuckets(request: ConvertTaskRequest) {
  const { createdAt } = request;
  const sources = request.sources.map((s) => ({ field: `${s.field}.URI`, bucket: s.bucket }));
  const outputs: { field: string; bucket: string }[] = [];
  for (const source of request.sources) {
    for (const spec of outputSpecs(request)) {
      // Two renderings with other times and indexes: a bucket name built from variables is checked either way.
      for (const [index, modified] of [[1, createdAt], [2, new Date(0)]] as const) {
        outputs.push({ field: `${spec.field}.URI`, bucket: outputUri(spec, source, { index, createdAt, sourceModified: modified, tags: request.tags }).bucket });
      }
    }
  }
  return { sources, outputs };
}

/**
 * The one way a CreateMediaConvertTask is submitted, for the RPC action and for OSS asynchronous
 * processing (src/http/async-process-routes.ts) alike: parsed and validated once, the signing key's
 * bucket permissions checked, then handed to the task service (recorded, queued, notified).
 */
export function createTaskSubmitter(deps: Pick<ImmRoutesDeps, 'tasks' | 'access' | 'limits'>) {
  return async (params: Params, principal: string | undefined): Promise<TaskRecord> => {
    // The one parse of the request: the service checks and records its result; runs re-derive it from
    // the recorded definition with this same parser (acceptedRequest).
    const request = parseConvertTask(params, deps.limits, new Date());
    if (deps.access.enabled) {
      const { sources, outputs } = taskBuckets(request);
      checkTaskBuckets(deps.access, principal, sources, outputs);
    }
    return deps.tasks.submit(request);
  };
}
export type TaskSubmitter = ReturnType<typeof createTaskSubmitter>;

export function immErrorBody(err: AppError, requestId: string, hostId: string) {
  return { RequestId: requestId, HostId: hostId, Code: err.code, Message: err.message, Recommend: '' };
}

/** IMM's JSON error answer (the handler's, and the app's for errors raised before it, such as a 413). */
export function immErrorResponse(c: Context<AppEnv>, err: AppError): Response {
  const headers: Record<string, string> = { ...err.headers };
  if (err.retryAfter !== undefined) headers['Retry-After'] = String(err.retryAfter);
  return c.json(immErrorBody(err, c.get('requestId'), c.req.header('host') ?? ''), err.status as 400, headers);
}

/** Is this request for the RPC API? POST / always; GET / when it names an Action (parameter, or ACS3's header). */
export function isImmRequest(method: string, url: URL, headers?: Headers): boolean {
  if (url.pathname !== '/') return false;
  return method === 'POST' || (method === 'GET' && (url.searchParams.has('Action') || !!headers?.has('x-acs-action')));
}

interface ReadParams {
  params: Params;
  /** Query and form parameters as strings (what a v1 signature covers); undefined for a JSON body. */
  strings: Record<string, string> | undefined;
  /** The raw body, for ACS3's payload hash. */
  body: Buffer;
}

async function readParams(c: Context<AppEnv>): Promise<ReadParams> {
  const url = c.get('url') ?? new URL(c.req.url);
  const query: Record<string, string> = Object.fromEntries(url.searchParams);
  if (c.req.method !== 'POST') return { params: query, strings: query, body: Buffer.alloc(0) };
  // Bounded by the app's body limit (src/http/body-limit.ts) before this handler runs.
  const body = Buffer.from(await c.req.arrayBuffer());
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
    return { params: { ...query, ...(parsed as Params) }, strings: undefined, body };
  }
  if (text && !type.includes('application/x-www-form-urlencoded') && type !== '') {
    throw errors.invalidArgument(`Unsupported Content-Type "${type}": send application/x-www-form-urlencoded (RPC) or application/json.`);
  }
  const form = Object.fromEntries(new URLSearchParams(text));
  const merged = { ...query, ...form };
  return { params: merged, strings: merged, body };
}

/** The action and API version: from the signature's own fields when ACS3 signed them, else the parameters. */
function actionOf(params: Params, headers: Headers, verified: Verified | undefined): { action: unknown; version: unknown } {
  if (verified?.action === undefined) {
    // v1 signs the parameters, not the x-acs-* headers: a signed request names its action in them.
    if (verified) return { action: params.Action, version: params.Version };
    return { action: (typeof params.Action === 'string' && params.Action) || headers.get('x-acs-action') || undefined, version: params.Version ?? headers.get('x-acs-version') ?? undefined };
  }
  for (const [name, signed] of [['Action', verified.action], ['Version', verified.apiVersion]] as const) {
    if (params[name] !== undefined && params[name] !== signed) {
      throw errors.invalidArgument(`The ${name} parameter "${String(params[name])}" contradicts the signed x-acs-${name.toLowerCase()} header "${signed}".`);
    }
  }
  return { action: verified.action, version: verified.apiVersion };
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
    // Empty until a worker starts it (as EndTime until it ends): a queued task has not started.
    StartTime: task.StartTime ?? '',
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
  const verifier = Object.keys(deps.accessKeys).length ? createRpcVerifier(deps.accessKeys, deps.nonces) : undefined;
  const { tasks, access } = deps;
  const submit = createTaskSubmitter(deps);
  const restricted = (principal: string | undefined) => access.enabled && principal !== undefined && access.restricted(principal);
  /** A key limited to some buckets sees only the tasks it could have submitted itself. */
  const visibleTo = (principal: string | undefined, task: TaskRecord) => {
    if (!restricted(principal)) return true;
    const { sources, outputs } = taskBuckets(acceptedRequest(task, deps.limits));
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
      const task = await submit(params, principal);
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
      const { params, strings, body } = await readParams(c);
      // From the query, the form body or the header, read once here: the request's log lines (its
      // access line included) carry it, also when the request is refused below.
      const claimed = (typeof params.Action === 'string' && params.Action) || c.req.header('x-acs-action');
      if (claimed) {
        const logged = claimed.slice(0, 100);
        c.set('action', logged);
        c.set('log', c.get('log').child({ action: logged }));
      }
      const verified = verifier
        ? await verifier.verify({ method: c.req.method, url: c.get('url') ?? new URL(c.req.url), headers: c.req.raw.headers, body, params: strings })
        : undefined;
      const { action, version } = actionOf(params, c.req.raw.headers, verified);
      if (typeof action !== 'string' || !action) throw errors.missingParam('Action');
      if (version !== undefined && version !== IMM_VERSION) {
        throw errors.invalidVersion(IMM_VERSION, version);
      }
      const handler = Object.hasOwn(actions, action) ? actions[action] : undefined;
      if (!handler) {
        throw errors.actionNotFound(action, Object.keys(actions));
      }
      // The signing AccessKeyId, whichever signature version: access rules apply to it alike.
      const result = await handler(params, verified?.accessKeyId);
      return c.json({ RequestId: requestId, ...result });
    } catch (err) {
      const appError = toAppError(err);
      if (appError.status >= 500 && appError.status !== 503) c.get('log').error('IMM request failed', { err: appError });
      return immErrorResponse(c, appError);
    }
  };
}
