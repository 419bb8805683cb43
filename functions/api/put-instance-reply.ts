import * as z from 'zod';
import type { Deps } from '../core/deps.js';
import { replyForInstance } from '../core/instance-replies.js';
import { instanceId, instanceReplySchema, projectId, sessionIdParam } from '../core/schemas.js';
import { defaultDeps } from '../shared/deps.js';
import { httpHandler, json } from '../shared/http.js';
import { logger } from '../shared/observability.js';

/** PUT /v1/maintenance/{session_id}/{project_id}/{instance_id} — workflow `vnf`: one instance's action and ACK/NACK. */
export const makeHandler = (deps: Deps) =>
  httpHandler(
    {
      access: 'project',
      params: z.object({ session_id: sessionIdParam, project_id: projectId, instance_id: instanceId }),
      body: instanceReplySchema,
    },
    async ({ params, body, identity }) => {
      const { latency_ms } = await replyForInstance(
        params.session_id,
        params.project_id,
        params.instance_id,
        body,
        identity.subject,
        deps,
      );
      if (latency_ms !== undefined)
        logger.info('reply recorded', { project_id: params.project_id, reply: body.state, latency_ms });
      return json(200, {});
    },
  );

export const handler = makeHandler(defaultDeps());
