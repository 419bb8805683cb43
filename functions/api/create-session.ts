import * as z from 'zod';
import type { Deps } from '../core/deps.js';
import { ValidationError } from '../core/errors.js';
import { createSessionSchema, idempotencyKey } from '../core/schemas.js';
import { createSessionOnce } from '../core/sessions.js';
import { defaultDeps } from '../shared/deps.js';
import { httpHandler, json } from '../shared/http.js';

/** POST /v1/maintenance — create a maintenance session and start its workflow (optional Idempotency-Key header). */
export const makeHandler = (deps: Deps) =>
  httpHandler({ access: 'admin', params: z.object({}), body: createSessionSchema }, async ({ body, event }) => {
    const key = idempotencyKey.safeParse(event.headers?.['idempotency-key']);
    if (!key.success) throw new ValidationError(key.error.issues[0]?.message ?? 'bad Idempotency-Key');
    return json(200, await createSessionOnce(body, key.data, deps));
  });

export const handler = makeHandler(defaultDeps());
