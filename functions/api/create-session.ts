import { z } from 'zod';
import type { Deps } from '../core/deps.js';
import { createSessionSchema } from '../core/schemas.js';
import { createSession } from '../core/sessions.js';
import { defaultDeps } from '../shared/deps.js';
import { httpHandler, json } from '../shared/http.js';

/** POST /v1/maintenance — create a maintenance session and start its workflow. */
export const makeHandler = (deps: Deps) =>
  httpHandler({ access: 'admin', params: z.object({}), body: createSessionSchema }, async ({ body }) =>
    json(200, await createSession(body, deps)),
  );

export const handler = makeHandler(defaultDeps());
