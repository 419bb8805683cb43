import type { IncomingMessage, ServerResponse } from 'node:http';
import { z } from 'zod';
import type { SimCloud } from '../functions/adapters/sim-cloud.js';
import { ForbiddenError, NotFoundError, ValidationError } from '../functions/core/errors.js';
import { describeIssues, groupId, hostName, instanceId, projectId } from '../functions/core/schemas.js';
import type { Identity } from '../functions/shared/auth.js';
import { errorResponse } from '../functions/shared/http.js';
import { parseStrictJson } from '../functions/shared/json.js';

const createInstance = z.strictObject({
  name: z.string().min(1).max(255),
  project_id: projectId,
  vcpus: z.number().int().min(1).max(1024),
  host: hostName.optional(),
  /** A stored instance group of the project whose placement rules the new instance keeps. */
  group_id: groupId.optional(),
});
const moveInstance = z.strictObject({ host: hostName.optional() });

/**
 * The simulated cloud's own API (DESIGN §6, contract), for VNFMs to act on their instances locally:
 * scale in/out, move or re-create an instance (OWN_ACTION). Answers `false` for paths it does not own.
 */
export const simApi =
  (cloud: SimCloud) =>
  async (request: IncomingMessage, response: ServerResponse, body: string, identity: Identity): Promise<boolean> => {
    const url = new URL(request.url ?? '/', 'http://localhost');
    if (!url.pathname.startsWith('/sim/v1/')) return false;
    const send = (status: number, payload: unknown) => {
      response.writeHead(status, { 'content-type': 'application/json' });
      response.end(JSON.stringify(payload));
    };
    const parse = <T extends z.ZodType>(schema: T): z.infer<T> => {
      const result = schema.safeParse(body ? parseStrictJson(body) : {});
      if (!result.success) throw new ValidationError(describeIssues(result.error));
      return result.data;
    };
    const path = url.pathname.replace(/\/+$/, '');
    // An admin may act on any instance, a VNFM only on its own project's.
    const mayActFor = (project: string) => {
      if (!identity.admin && identity.project !== project)
        throw new ForbiddenError("this token may act only on its own project's instances");
    };
    const method = request.method ?? 'GET';
    try {
      if (method === 'GET' && path === '/sim/v1/hosts') {
        send(200, { hosts: await cloud.listHosts() });
        return true;
      }
      if (path === '/sim/v1/instances') {
        if (method === 'GET') {
          const project = url.searchParams.get('project_id') ?? (identity.admin ? null : (identity.project ?? ''));
          if (project !== null && !projectId.safeParse(project).success)
            throw new ValidationError('project_id: not a valid project id');
          if (project !== null) mayActFor(project);
          send(200, { instances: await cloud.listInstances(project ?? undefined) });
          return true;
        }
        if (method === 'POST') {
          const input = parse(createInstance);
          mayActFor(input.project_id);
          send(200, await cloud.createInstance(input));
          return true;
        }
      }
      const match = /^\/sim\/v1\/instances\/([^/]+)(\/move)?$/.exec(path);
      if (match) {
        const id = decodeURIComponent(match[1] ?? '');
        if (!instanceId.safeParse(id).success) throw new ValidationError('instance id: not a valid instance id');
        const instance = await cloud.getInstance(id);
        if (!instance) throw new NotFoundError(`no instance ${id}`);
        mayActFor(instance.project_id);
        if (method === 'DELETE' && !match[2]) {
          await cloud.deleteInstance(id);
          send(200, {});
          return true;
        }
        if (method === 'POST' && match[2]) {
          send(200, await cloud.moveInstance(id, parse(moveInstance).host));
          return true;
        }
      }
      send(404, { error: 'not_found', message: `no simulator route for ${method} ${url.pathname}` });
    } catch (error) {
      const result = errorResponse(error);
      response.writeHead(result.statusCode ?? 500, { 'content-type': 'application/json' });
      response.end(result.body);
    }
    return true;
  };
