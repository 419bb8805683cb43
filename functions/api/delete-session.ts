import * as z from 'zod';
import type { Deps } from '../core/deps.js';
import { sessionIdParam } from '../core/schemas.js';
import { deleteSession } from '../core/sessions.js';
import { defaultDeps } from '../shared/deps.js';
import { httpHandler, json } from '../shared/http.js';

/** DELETE /v1/maintenance/{session_id} — stop the workflow, re-enable its hosts, remove its records. */
export const makeHandler = (deps: Deps) =>
  httpHandler({ access: 'admin', params: z.object({ session_id: sessionIdParam }) }, async ({ params }) => {
    await deleteSession(params.session_id, deps);
    return json(200, {});
  });

export const handler = makeHandler(defaultDeps());
