import * as z from 'zod';
import type { Deps } from '../core/deps.js';
import { defaultDeps } from '../shared/deps.js';
import { httpHandler, json } from '../shared/http.js';

/** GET /v1/maintenance — ids of every session not yet deleted (Query on the sessions index). */
export const makeHandler = (deps: Deps) =>
  httpHandler({ access: 'admin', params: z.object({}) }, async () =>
    json(200, { session_id: await deps.store.listSessionIds() }),
  );

export const handler = makeHandler(defaultDeps());
