// The IMM RPC API's pure parts (src/http/imm-routes.ts): which requests are IMM actions, and the JSON error
// body IMM answers with. The actions themselves run against a real server in test/tasks/.
import { describe, expect, it } from 'vitest';
import { errors } from '../../../src/errors.js';
import { immErrorBody, isImmRequest } from '../../../src/http/imm-routes.js';

describe('isImmRequest', () => {
  const url = (path: string) => new URL(path, 'http://127.0.0.1:8080');

  it('a POST to / is; a GET to / with an Action (query or x-acs-action header) is', () => {
    expect(isImmRequest('POST', url('/'))).toBe(true);
    expect(isImmRequest('POST', url('/?Action=ListProjects'))).toBe(true);
    expect(isImmRequest('GET', url('/?Action=GetTask&ProjectName=p'))).toBe(true);
    expect(isImmRequest('GET', url('/'), new Headers({ 'x-acs-action': 'ListProjects' }))).toBe(true);
  });

  it('anything else is the object API or the ops endpoints', () => {
    expect(isImmRequest('GET', url('/'))).toBe(false);
    expect(isImmRequest('HEAD', url('/?Action=ListProjects'))).toBe(false);
    expect(isImmRequest('PUT', url('/'))).toBe(false);
    expect(isImmRequest('POST', url('/media/a.mp4'))).toBe(false);
    expect(isImmRequest('GET', url('/media/?Action=ListProjects'))).toBe(false);
    expect(isImmRequest('GET', url('/_/health'))).toBe(false);
  });
});

describe('immErrorBody', () => {
  it('RequestId, HostId, Code, Message and an empty Recommend, as IMM answers', () => {
    expect(immErrorBody(errors.missingParam('Targets[0].Image.Snapshots[0].URI'), 'REQ', 'imm.example.com')).toEqual({
      RequestId: 'REQ',
      HostId: 'imm.example.com',
      Code: 'MissingURI',
      Message: 'The parameter Targets[0].Image.Snapshots[0].URI is required.',
      Recommend: '',
    });
  });
});
