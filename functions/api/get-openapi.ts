import * as z from 'zod';
import { httpHandler, json } from '../shared/http.js';
import { buildOpenApi } from '../shared/openapi.js';

/** The document of every route, built once per process from the handlers' own zod schemas. */
export const openApiDocument = (): Record<string, unknown> => buildOpenApi();

/** GET /v1/openapi.json — the OpenAPI 3.1 document; any admin or project token may read it. */
export const makeHandler = (build: () => Record<string, unknown> = openApiDocument) => {
  let document: Record<string, unknown> | undefined;
  return httpHandler({ access: 'any', params: z.object({}) }, async () => {
    document ??= build();
    return json(200, document);
  });
};

export const handler = makeHandler();
