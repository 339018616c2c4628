// Task and project records as GetTask/ListTasks/GetProject show them, and the pure rules every backend
// shares: a new record, ListTasks' filters and order, list paging, the completion message, and the
// accepted request re-derived from a record by the one parser that accepted it.
import { randomBytes, randomUUID } from 'node:crypto';
import { errors } from '../errors.js';
import {
  parseConvertTask,
  type ConvertTaskRequest,
  type CreateProjectRequest,
  type ListRequest,
  type ListTasksRequest,
  type RequestLimits,
  type TaskStatus,
} from '../process/imm-request.js';
import { immMessage } from './notifier.js';

export interface ProjectRecord {
  ProjectName: string;
  Description?: string;
  ServiceRole?: string;
  TemplateId?: string;
  Tags: Record<string, string>;
  CreateTime: string;
  UpdateTime: string;
}

export interface OutputRecord {
  URI: string;
  /** The {index} of this output within its spec and source (sprites: the sheet, from 1). */
  Index: number;
  /** Which source produced it, and which spec (flattened over Targets): one of the three. */
  SourceIndex: number;
  SnapshotIndex?: number;
  SpriteIndex?: number;
  AnimationIndex?: number;
  /** Presentation time of the frame (sheets, animations: the first one), ms from the stream's first frame. */
  TimeMs: number;
  /** Sheets and animations: the time of every tile or frame, in order, ms. */
  FramesMs?: number[];
  Width: number;
  Height: number;
  Size: number;
}

export interface TaskRecord {
  ProjectName: string;
  TaskId: string;
  TaskType: 'MediaConvert';
  EventId: string;
  Status: TaskStatus;
  Code: string;
  Message: string;
  CreateTime: string;
  StartTime?: string;
  EndTime?: string;
  Progress: number;
  UserData?: string;
  Tags: Record<string, string>;
  /** The request as accepted (objects parsed): what every attempt re-derives its plan from. */
  Definition: Record<string, unknown>;
  Topic?: string;
  Outputs: OutputRecord[];
  /** The completion notification was delivered (or given up on). */
  Notified: boolean;
  /** Runs started (> 1 after a restart interrupted one). */
  Attempts: number;
}

/** How a task ended: the result, when, and its final progress (undefined = keep the recorded one). */
export interface TaskEnding {
  Status: Exclude<TaskStatus, 'Running'>;
  Code: string;
  Message: string;
  EndTime: string;
  Progress: number | undefined;
}

const newEventId = () => `${randomBytes(2).toString('hex').toUpperCase().slice(0, 3)}-${randomBytes(8).toString('base64url').slice(0, 11)}`;

/** A new accepted task's record (Status Running, no outputs yet). */
export function newTaskRecord(request: ConvertTaskRequest): TaskRecord {
  return {
    ProjectName: request.projectName,
    TaskId: `MediaConvert-${randomUUID()}`,
    TaskType: 'MediaConvert',
    EventId: newEventId(),
    Status: 'Running',
    Code: '',
    Message: '',
    CreateTime: request.createdAt.toISOString(),
    Progress: 0,
    ...(request.userData !== undefined && { UserData: request.userData }),
    Tags: request.tags,
    Definition: request.definition,
    ...(request.topic !== undefined && { Topic: request.topic }),
    Outputs: [],
    Notified: false,
    Attempts: 0,
  };
}

/** A new project's record. */
export function newProjectRecord(request: CreateProjectRequest): ProjectRecord {
  const now = new Date().toISOString();
  return {
    ProjectName: request.projectName,
    ...(request.description !== undefined && { Description: request.description }),
    ...(request.serviceRole !== undefined && { ServiceRole: request.serviceRole }),
    ...(request.templateId !== undefined && { TemplateId: request.templateId }),
    Tags: request.tags,
    CreateTime: now,
    UpdateTime: now,
  };
}

/**
 * The request a task was accepted with, re-derived from its stored definition by the parser that
 * accepted it (the same code, the same creation time): an attempt after a restart runs exactly that.
 */
export function acceptedRequest(task: Pick<TaskRecord, 'Definition' | 'CreateTime'>, limits: RequestLimits): ConvertTaskRequest {
  return parseConvertTask(task.Definition, limits, new Date(task.CreateTime));
}

/** Opaque list cursor: the offset, so a client cannot tell it is one. */
const encodeToken = (offset: number) => Buffer.from(`o:${offset}`).toString('base64url');
function decodeToken(token: string | undefined): number {
  if (!token) return 0;
  const m = /^o:(\d+)$/.exec(Buffer.from(token, 'base64url').toString('utf8'));
  if (!m) throw errors.invalidArgument('Expected a NextToken from a previous response for NextToken.');
  return Number(m[1]);
}

export function pageOf<T>(items: T[], request: ListRequest): { items: T[]; nextToken: string } {
  const offset = decodeToken(request.nextToken);
  const slice = items.slice(offset, offset + request.maxResults);
  return { items: slice, nextToken: offset + slice.length < items.length ? encodeToken(offset + slice.length) : '' };
}

/** ListProjects' filter and order. */
export function selectProjects(projects: Iterable<ProjectRecord>, prefix: string | undefined): ProjectRecord[] {
  return [...projects].filter((p) => !prefix || p.ProjectName.startsWith(prefix)).sort((a, b) => a.ProjectName.localeCompare(b.ProjectName));
}

/** ListTasks' filters and order over one project's tasks. */
export function selectTasks(tasks: Iterable<TaskRecord>, request: ListTasksRequest): TaskRecord[] {
  const key = request.sort;
  return [...tasks]
    .filter((t) => t.ProjectName === request.projectName)
    .filter((t) => !request.taskTypes?.length || request.taskTypes.includes(t.TaskType))
    .filter((t) => !request.status || t.Status === request.status)
    .filter((t) => Object.entries(request.tagSelector).every(([k, v]) => t.Tags[k] === v))
    .sort((a, b) => {
      const cmp = (a[key] ?? '').localeCompare(b[key] ?? '') || a.TaskId.localeCompare(b.TaskId);
      return request.order === 'asc' ? cmp : -cmp;
    });
}

/** The IMM completion message of a finished task. */
export function completionMessage(task: TaskRecord) {
  const definition = task.Definition;
  return immMessage(task.TaskType, `acs:imm::stillframe:project/${task.ProjectName}/task/${task.TaskId}`, {
    ProjectName: task.ProjectName,
    TaskId: task.TaskId,
    TaskType: task.TaskType,
    Status: task.Status,
    Code: task.Code,
    Message: task.Message,
    StartTime: task.StartTime,
    EndTime: task.EndTime,
    UserData: task.UserData ?? '',
    Sources: definition.Sources,
    Targets: definition.Targets,
    Outputs: task.Outputs,
  });
}
