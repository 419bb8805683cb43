import { z } from 'zod';
import type { Deps } from '../core/deps.js';
import { getSessionDetail } from '../core/detail.js';
import { sessionIdParam } from '../core/schemas.js';
import { defaultDeps } from '../shared/deps.js';
import { httpHandler, json } from '../shared/http.js';

const limit = (name: string, fallback: number) =>
  z.coerce
    .number({ error: `${name} must be a number` })
    .int(`${name} must be a whole number`)
    .min(1, `${name} must be at least 1`)
    .max(1000, `${name} must be at most 1000`)
    .default(fallback);
const token = z.string().max(2048).regex(/^[A-Za-z0-9_-]+$/, 'not a page token').optional();

export const detailQuery = z.strictObject({
  instances_limit: limit('instances_limit', 500),
  instances_next: token,
  history_limit: limit('history_limit', 500),
  history_next: token,
});

/** GET /v1/maintenance/{session_id}/detail — the full session view, lists paginated. */
export const makeHandler = (deps: Deps) =>
  httpHandler({ access: 'admin', params: z.object({ session_id: sessionIdParam }), query: detailQuery }, async ({ params, query }) =>
    json(200, await getSessionDetail(params.session_id, query, deps)),
  );

export const handler = makeHandler(defaultDeps());
