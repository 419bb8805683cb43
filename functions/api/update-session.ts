import * as z from 'zod';
import type { Deps } from '../core/deps.js';
import { sessionIdParam, updateSessionSchema } from '../core/schemas.js';
import { continueSession } from '../core/sessions.js';
import { defaultDeps } from '../shared/deps.js';
import { httpHandler, json } from '../shared/http.js';

/** PUT /v1/maintenance/{session_id} — continue a MAINTENANCE_FAILED session from a state. */
export const makeHandler = (deps: Deps) =>
  httpHandler(
    { access: 'admin', params: z.object({ session_id: sessionIdParam }), body: updateSessionSchema },
    async ({ params, body }) => {
      await continueSession(params.session_id, body, deps);
      return json(200, {});
    },
  );

export const handler = makeHandler(defaultDeps());
