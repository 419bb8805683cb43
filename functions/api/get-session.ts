import * as z from 'zod';
import type { Deps } from '../core/deps.js';
import { sessionIdParam } from '../core/schemas.js';
import { getSessionOrThrow } from '../core/sessions.js';
import { defaultDeps } from '../shared/deps.js';
import { httpHandler, json } from '../shared/http.js';

/** GET /v1/maintenance/{session_id} — the session's state. */
export const makeHandler = (deps: Deps) =>
  httpHandler({ access: 'admin', params: z.object({ session_id: sessionIdParam }) }, async ({ params }) => {
    const session = await getSessionOrThrow(params.session_id, deps);
    return json(200, { session_id: session.session_id, state: session.state });
  });

export const handler = makeHandler(defaultDeps());
