import * as z from 'zod';
import type { Deps } from '../core/deps.js';
import { getSessionDetail } from '../core/detail.js';
import { detailQuery, sessionIdParam } from '../core/schemas.js';
import { defaultDeps } from '../shared/deps.js';
import { httpHandler, json } from '../shared/http.js';

/** GET /v1/maintenance/{session_id}/detail — the full session view, lists paginated. */
export const makeHandler = (deps: Deps) =>
  httpHandler(
    { access: 'admin', params: z.object({ session_id: sessionIdParam }), query: detailQuery },
    async ({ params, query }) => json(200, await getSessionDetail(params.session_id, query, deps)),
  );

export const handler = makeHandler(defaultDeps());
