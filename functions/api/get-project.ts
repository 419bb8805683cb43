import * as z from 'zod';
import type { Deps } from '../core/deps.js';
import { getProjectInstances } from '../core/rounds.js';
import { projectId, sessionIdParam } from '../core/schemas.js';
import { defaultDeps } from '../shared/deps.js';
import { httpHandler, json } from '../shared/http.js';

/** GET /v1/maintenance/{session_id}/{project_id} — the project's instances the current state concerns. */
export const makeHandler = (deps: Deps) =>
  httpHandler(
    { access: 'project', params: z.object({ session_id: sessionIdParam, project_id: projectId }) },
    async ({ params }) =>
      json(200, { instance_ids: await getProjectInstances(params.session_id, params.project_id, deps) }),
  );

export const handler = makeHandler(defaultDeps());
