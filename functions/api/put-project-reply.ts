import * as z from 'zod';
import type { Deps } from '../core/deps.js';
import { replyToRound } from '../core/rounds.js';
import { projectId, projectReplySchema, sessionIdParam } from '../core/schemas.js';
import { defaultDeps } from '../shared/deps.js';
import { httpHandler, json } from '../shared/http.js';
import { logger } from '../shared/observability.js';

/** PUT /v1/maintenance/{session_id}/{project_id} — a project's ACK/NACK and instance actions. */
export const makeHandler = (deps: Deps) =>
  httpHandler(
    {
      access: 'project',
      params: z.object({ session_id: sessionIdParam, project_id: projectId }),
      body: projectReplySchema,
    },
    async ({ params, body, identity }) => {
      const { latency_ms } = await replyToRound(params.session_id, params.project_id, body, identity.subject, deps);
      // One line per recorded reply: a CloudWatch metric filter turns it into the reply-latency metric.
      if (latency_ms !== undefined)
        logger.info('reply recorded', { project_id: params.project_id, reply: body.state, latency_ms });
      return json(200, {});
    },
  );

export const handler = makeHandler(defaultDeps());
